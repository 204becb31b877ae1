"""The approach eufy-hw replaces, done right, as a CPU reference (bench/colour.sh runs it).

    python_reference.py URL SERIAL FRAMES

One eufy-security-ws livestream (the real server or `eufy-hw simulate`), one long-lived
PyAV decoder fed every byte of every event (its parser finds the access units), each frame
converted to `bgr24` by libswscale (`frame.to_ndarray(format="bgr24")`, as an OpenCV
`imshow` loop needs it), nothing displayed. Prints JSON: frames converted and this
process's CPU time per frame over them, the first 10 left out (decoder start-up).
Needs: av, numpy, websocket-client (bench/colour.sh installs them in a venv).
"""
import json
import sys
import time

import av
import numpy  # noqa: F401  (to_ndarray needs it)
import websocket

url, serial, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
ws = websocket.create_connection(url, timeout=30)
ws.recv()  # version
for n, cmd in enumerate(
    [
        {"command": "set_api_schema", "schemaVersion": 21},
        {"command": "start_listening"},
        {"command": "device.start_livestream", "serialNumber": serial},
    ]
):
    ws.send(json.dumps({"messageId": str(n), **cmd}))

codec = av.CodecContext.create("h264", "r")
done = 0
warmup = 10
cpu0 = None
while done < frames + warmup:
    msg = json.loads(ws.recv())
    ev = msg.get("event") or {}
    if msg.get("type") != "event" or ev.get("event") != "livestream video data":
        continue
    data = bytes(ev["buffer"]["data"])
    for packet in codec.parse(data):
        for frame in codec.decode(packet):
            frame.to_ndarray(format="bgr24")
            done += 1
            if done == warmup:
                cpu0 = time.process_time()
cpu = time.process_time() - cpu0
ws.send(json.dumps({"messageId": "stop", "command": "device.stop_livestream", "serialNumber": serial}))
ws.close()
print(json.dumps({"frames": frames, "cpu_ms_per_frame": cpu * 1e3 / frames}))
