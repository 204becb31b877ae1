#!/usr/bin/python3
"""A real restreaming RTSP server for the tests, standing in for go2rtc/MediaMTX (whose
packages download their binaries at install time): GStreamer's gst-rtsp-server (Debian:
gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good/bad) with two mounts.

    scripts/rtsp-relay.py PORT h264|h265

  rtsp://127.0.0.1:PORT/in   takes one publisher (ANNOUNCE/RECORD over TCP, as FFmpeg's
                             RTSP muxer and `eufy-hw publish` push)
  rtsp://127.0.0.1:PORT/out  serves what was pushed to any number of readers (PLAY)

Video only: the pushed video is depayloaded, parsed into access units and handed to the
readers' payloader as it comes (no re-encoding, no waiting). Prints "ready" once it
listens (on standard output), and "publisher" / "publisher gone" as pushes come and go
(on standard error).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, codec = sys.argv[1], sys.argv[2]
if codec not in ("h264", "h265"):
    sys.exit(f"codec must be h264 or h265, not {codec}")
caps = f"video/x-{codec},stream-format=byte-stream,alignment=au"

# The readers' sources (one per shared /out media while it is prepared).
sources = []


def on_sample(sink):
    sample = sink.emit("pull-sample")
    if sample is None:
        return Gst.FlowReturn.ERROR
    buf = sample.get_buffer()
    for src in list(sources):
        out = buf.copy()
        # Timestamps are the reader pipeline's own (do-timestamp): the push's clock is
        # not the readers'.
        out.pts = Gst.CLOCK_TIME_NONE
        out.dts = Gst.CLOCK_TIME_NONE
        src.emit("push-buffer", out)
    return Gst.FlowReturn.OK


def on_in_configure(_factory, media):
    print("publisher", file=sys.stderr, flush=True)
    sink = media.get_element().get_by_name("sink")
    sink.connect("new-sample", on_sample)
    media.connect("unprepared", lambda _m: print("publisher gone", file=sys.stderr, flush=True))


def on_out_configure(_factory, media):
    src = media.get_element().get_by_name("src")
    sources.append(src)
    media.connect("unprepared", lambda _m: sources.remove(src) if src in sources else None)


server = GstRtspServer.RTSPServer()
server.set_service(port)
# A thread per client: a reader's media waits for pictures that only the publisher's
# connection brings, so they cannot share one.
pool = GstRtspServer.RTSPThreadPool()
pool.set_max_threads(16)
server.set_thread_pool(pool)
mounts = server.get_mount_points()

record = GstRtspServer.RTSPMediaFactory()
record.set_latency(20)
record.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
record.set_launch(
    f"( rtp{codec}depay name=depay0 ! {codec}parse ! {caps} ! "
    "appsink name=sink emit-signals=true sync=false async=false )"
)
record.connect("media-configure", on_in_configure)
mounts.add_factory("/in", record)

play = GstRtspServer.RTSPMediaFactory()
play.set_launch(
    f"( appsrc name=src is-live=true do-timestamp=true format=time caps={caps} ! "
    f"{codec}parse ! rtp{codec}pay name=pay0 pt=96 )"
)
play.set_shared(True)
play.set_latency(20)
play.connect("media-configure", on_out_configure)
mounts.add_factory("/out", play)

server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
