"""The accelerate loop: seeded batches, atomic checkpoints, bit-for-bit --resume on the CPU."""

import csv

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.training import loop
from neurocine_toolbox.training.loop import StageSettings, StepBatchSampler, batch_for_step, run_training

TRAINING = {"mixed_precision": "auto", "gradient_accumulation_steps": 1, "checkpoint_every": 3,
            "keep_checkpoints": 2, "log_every": 1, "logger": "csv", "num_workers": 0}
SETTINGS = StageSettings(steps=8, batch_size=6, learning_rate=0.05, weight_decay=0.01, warmup_steps=2)


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(23, 5, generator=g)
    return TensorDataset(x, x @ torch.randn(5, 1, generator=g))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.3), nn.GELU(), nn.Linear(16, 1))


def _step(model, batch, generator):
    x, y = batch
    noise = 0.1 * torch.randn(x.shape, generator=generator)  # the step's own randomness
    loss = ((model(x + noise) - y) ** 2).mean()
    return loss, {"mse": loss.item()}


def _train(stage_dir, resume=False, training=TRAINING):
    model = _model()
    trained, _ = run_training(stage_dir=stage_dir, model=model, parameters=list(model.parameters()),
                              dataset=_data(), step_fn=_step, settings=SETTINGS, training=training,
                              seed=7, resume=resume, progress=False)
    return trained


def _rows(stage_dir):
    with open(stage_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def test_batches_are_a_function_of_seed_and_step():
    assert batch_for_step(5, 23, 6, seed=1) == batch_for_step(5, 23, 6, seed=1)
    assert batch_for_step(5, 23, 6, seed=1) != batch_for_step(5, 23, 6, seed=2)
    epoch = sum((batch_for_step(s, 23, 6, 1) for s in range(3)), [])
    assert len(set(epoch)) == 18  # an epoch's batches never repeat an item
    shards = [list(StepBatchSampler(23, 6, 1, 4, 6, rank=r, world=2)) for r in (0, 1)]
    for step, (a, b) in enumerate(zip(*shards), start=4):
        assert sorted(a + b) == sorted(batch_for_step(step, 23, 6, 1)) and not set(a) & set(b)


@pytest.mark.parametrize("accumulation", [1, 2])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, interrupt_training, accumulation):
    training = dict(TRAINING, gradient_accumulation_steps=accumulation)
    reference = _train(tmp_path / "straight", training=training)

    arm, disarm = interrupt_training
    arm(5)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "killed", training=training)
    disarm()
    ckpts = loop.checkpoints(tmp_path / "killed" / "checkpoints")
    assert [p.name for p in ckpts] == ["step-0000003"]  # only complete checkpoints, no temp folders
    assert not [p for p in (tmp_path / "killed" / "checkpoints").iterdir() if p.name.startswith(".")]

    resumed = _train(tmp_path / "killed", resume=True, training=training)
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "straight")
    assert [p.name for p in loop.checkpoints(tmp_path / "killed" / "checkpoints")] == ["step-0000003", "step-0000006"]


def test_other_seed_gives_other_weights(tmp_path):
    a = _train(tmp_path / "a")
    model = _model()
    b, _ = run_training(stage_dir=tmp_path / "b", model=model, parameters=list(model.parameters()),
                        dataset=_data(), step_fn=_step, settings=SETTINGS, training=TRAINING, seed=8,
                        progress=False)
    assert not torch.equal(a[0].weight, b[0].weight)


def test_existing_checkpoints_need_resume_or_force(tmp_path):
    _train(tmp_path / "run")
    with pytest.raises(NeurocineError, match="--resume"):
        _train(tmp_path / "run")


def test_a_diverging_loss_stops_with_a_clear_error(tmp_path):
    def nan_step(model, batch, generator):
        return model(batch[0]).sum() * float("nan"), {}

    model = _model()
    with pytest.raises(NeurocineError, match="loss became nan at step 0"):
        run_training(stage_dir=tmp_path, model=model, parameters=list(model.parameters()), dataset=_data(),
                     step_fn=nan_step, settings=SETTINGS, training=TRAINING, seed=0, progress=False)


def test_tensorboard_logger_writes_every_scalar(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(tmp_path / "tb", training=dict(TRAINING, logger="tensorboard"))
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    assert {"loss", "mse", "lr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss")] == list(range(1, 9))
    assert len(_rows(tmp_path / "tb")) == 8  # metrics.csv is written too
