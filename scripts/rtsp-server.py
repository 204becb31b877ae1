#!/usr/bin/python3
"""A real RTSP server for the tests: GStreamer's gst-rtsp-server (Debian:
gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good/bad) serving a raw H.264
clip, looped at its own frame rate, to any number of readers.

    scripts/rtsp-server.py PORT /path clip.h264

Prints "ready" once it listens.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, path, clip = sys.argv[1], sys.argv[2], sys.argv[3]
server = GstRtspServer.RTSPServer()
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( multifilesrc location={clip} loop=true ! h264parse ! "
    "video/x-h264,stream-format=byte-stream,alignment=au ! identity sync=true ! "
    "rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory(path, factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
