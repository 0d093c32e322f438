"""How to open an attention report in headless Chromium (the browser test, the docs' screenshots).

The report draws its surface views with WebGL; on a machine without a GPU or a display, as root,
on a closed network (CI containers, cluster nodes) Chromium needs these flags to draw them at all
and to stay quiet on the network.
"""

#: Command-line flags of Chromium; add ``--window-size=W,H`` and ``--user-data-dir=…`` per use.
HEADLESS_CHROMIUM_ARGS = (
    "--headless=new",  # no display
    "--no-sandbox",  # Chromium's sandbox refuses to start as root (containers run as root)
    "--disable-gpu",  # no GPU: draw in software
    "--use-angle=swiftshader",  # WebGL through SwiftShader, the software renderer, not a GPU driver
    "--enable-unsafe-swiftshader",  # newer Chromium allows WebGL on SwiftShader only when asked
    # A closed network: no background requests, component downloads, sync, first-run pages or QUIC
    # probes that would wait on time-outs or fill the log with errors.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
