"""How much of the test clips' pixels a run's fMRI can say: the low-level pathway's ceiling.

On a decoded run (``decoded-test/frames.npz``; the mean clip of ``evaluate``), scores by SSIM
(MinD-Video protocol) against the test truth:

- flat frames: of the training clips' mean background colour, of each test clip's own
  background (an oracle), and of the background colour a ridge predicts from the fMRI;
- a ridge from the fMRI to 8×8 pixels per frame, upsampled;
- the mean training latents and the true latents, decoded by the run's VAE;
- and the test R² of ridges from several fMRI features to the clips' latents (the raw windows,
  the mean of the window's TRs, 16 and 64 principal components, the trained encoder's states
  and pooled embedding), each decoded and scored too.

Every ridge is fitted on the training split only, its penalty chosen by ``GridSearchCV`` with
``GroupKFold`` over the training movies (the validation movies left out). ``--sdedit`` also decodes with the run's pipeline from
the mean clip's and the pixel ridge's latents at strengths 0.5 and 0.3.

Usage::

    python benchmarks/low_level_ceiling.py DERIVATIVES --name RUN [--sdedit]
"""

import argparse
from pathlib import Path

import numpy as np
import torch

ALPHAS = [1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6]


def ridge(x_train, y_train, runs, x_test):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold

    search = GridSearchCV(Ridge(), {"alpha": ALPHAS}, cv=GroupKFold(min(5, len(np.unique(runs)))),
                          scoring="neg_mean_squared_error").fit(x_train, y_train, groups=runs)
    return search.predict(x_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives")
    parser.add_argument("--subject", default="01")
    parser.add_argument("--name", required=True)
    parser.add_argument("--sdedit", action="store_true")
    args = parser.parse_args()

    from sklearn.decomposition import PCA

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.clips import clip_frame_indices, frames_to_tensor, mean_training_window, tensor_to_frames
    from neurocine_toolbox.data.dataset import split_window_starts, windows_at
    from neurocine_toolbox.data.store import open_store, store_path
    from neurocine_toolbox.evaluation.evaluate import clips_to_latents
    from neurocine_toolbox.evaluation.pixel_metrics import ssim_per_frame
    from neurocine_toolbox.pipelines import NeuroCinePipeline
    from neurocine_toolbox.pipelines.decode_split import decode_windows

    root = Path(args.derivatives) / f"sub-{args.subject}" / "models" / args.name
    config = load_config(path=root / "config.yaml")
    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    frames, resolution = int(config["decoder"]["frames"]), int(config["decoder"]["resolution"])

    def split(name):
        with open_store(store_path(args.derivatives, args.subject, name)) as store:
            starts = split_window_starts(store, window, lag, name)
            fmri = windows_at(store.fmri, starts, window, lag)
            index = clip_frame_indices(store.frames_per_tr, frames)
            clips = tensor_to_frames(frames_to_tensor(store.frames[starts][:, index], resolution))
            return fmri, clips, store.stimulus[starts]

    (f_train, c_train, runs), (f_test, c_test, _) = split("train"), split("test")  # runs: the movies, CV's groups
    x_train, x_test = f_train.reshape(len(f_train), -1), f_test.reshape(len(f_test), -1)
    pipe = NeuroCinePipeline.from_pretrained(root / "decoder-fmri" / "model")
    pipe.set_progress_bar_config(disable=True)
    vae = pipe.vae

    def ssim(clips):
        clips = np.broadcast_to(np.clip(np.rint(clips), 0, 255).astype(np.uint8), c_test.shape).copy()
        return float(ssim_per_frame(clips, c_test, "mindvideo-rgb").mean())

    def decode(latents):
        with torch.no_grad():
            return (pipe.decode_latents(torch.tensor(np.asarray(latents), dtype=torch.float32))
                    .permute(0, 1, 3, 4, 2) * 255).numpy()

    def border(clips):  # the background colour of each frame: its 2×2 corner
        return clips[:, :, :2, :2].reshape(len(clips), frames, -1, 3).mean(axis=2)

    print(f"{len(x_train)} training windows, {len(x_test)} test windows; SSIM (mindvideo-rgb) against the test truth")
    print(f"mean training clip: {ssim(c_train.mean(axis=0)):.3f}")
    print(f"flat, the training clips' mean background: {ssim(border(c_train).mean(axis=0)[None, :, None, None]):.3f}")
    print(f"flat, each test clip's own background (oracle): {ssim(border(c_test)[:, :, None, None]):.3f}")
    predicted = ridge(x_train, border(c_train).reshape(len(x_train), -1), runs, x_test)
    print(f"flat, the background a ridge predicts: {ssim(predicted.reshape(-1, frames, 1, 1, 3)):.3f}")
    low = torch.nn.functional.avg_pool2d(torch.from_numpy(c_train.reshape(-1, resolution, resolution, 3))
                                         .permute(0, 3, 1, 2).float(), resolution // 8)
    pixels = ridge(x_train, low.reshape(len(x_train), -1).numpy(), runs, x_test)
    pixels = torch.nn.functional.interpolate(torch.from_numpy(pixels).float().reshape(-1, 3, 8, 8),
                                             size=resolution, mode="bilinear", align_corners=False)
    pixels = pixels.permute(0, 2, 3, 1).reshape(c_test.shape).clamp(0, 255).round().byte().numpy()
    print(f"ridge to 8x8 pixels, upsampled: {ssim(pixels):.3f}")

    z_train, z_test = clips_to_latents(vae, c_train), clips_to_latents(vae, c_test)
    shape = (-1, *z_test.shape[1:])
    z_train, z_test = z_train.flatten(1).numpy(), z_test.flatten(1).numpy()
    print(f"mean training latents, decoded: {ssim(decode(np.broadcast_to(z_train.mean(0), z_test.shape).reshape(shape))):.3f}")
    print(f"true latents, decoded: {ssim(decode(z_test.reshape(shape))):.3f}")
    features = {"raw windows": (x_train, x_test),
                "mean of the window's TRs": (f_train.mean(axis=1), f_test.mean(axis=1))}
    for k in (16, 64):
        pca = PCA(k).fit(x_train)
        features[f"{k} principal components"] = (pca.transform(x_train), pca.transform(x_test))
    encoder = pipe.fmri_encoder.eval()
    with torch.no_grad():
        out_train, out_test = encoder(torch.from_numpy(f_train).float()), encoder(torch.from_numpy(f_test).float())
    features["encoder states"] = (out_train.text_states.flatten(1).numpy(), out_test.text_states.flatten(1).numpy())
    features["encoder pooled embedding"] = (out_train.embeds.numpy(), out_test.embeds.numpy())
    denominator = ((z_test - z_train.mean(axis=0)) ** 2).sum()
    for name, (a, b) in features.items():
        p = ridge(a, z_train, runs, b)
        r2 = 1 - ((p - z_test) ** 2).sum() / denominator
        print(f"latents from {name} ({a.shape[1]} features): test R² {r2:.3f}, decoded SSIM {ssim(decode(p.reshape(shape))):.3f}")

    if args.sdedit:
        negative = mean_training_window(store_path(args.derivatives, args.subject, "train"), window, lag)
        mean = np.broadcast_to(np.rint(c_train.mean(axis=0)).astype(np.uint8), c_test.shape).copy()
        for name, clips in (("the mean training clip", mean), ("the 8x8 pixel ridge", pixels)):
            init = clips_to_latents(vae, clips)
            for strength in (0.5, 0.3):
                decoded = [decode_windows(pipe, f_test, list(range(i, min(i + 13, len(f_test)))), config, negative,
                                          init_latents=init, strength=strength)
                           for i in range(0, len(f_test), 13)]
                print(f"SDEdit from {name}, strength {strength}: {ssim(np.concatenate(decoded)):.3f}")


if __name__ == "__main__":
    main()
