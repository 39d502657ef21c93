"""The cost of one turn of the server's event loop with N idle connections (decision 0031).

In-process and without load: a server from ``ticketing.server.make_server`` (its loop,
``RushLoop``) and waitress's own ``poll2`` on the same socket map, with connections that
connected and said nothing. A turn runs on the GIL several times per request, so its cost
with many fans connected is CPU the requests do not get.

    python -m bench.loop_turn
"""
import socket
import time

from waitress import wasyncore

from ticketing.server import make_server

TURNS = 2000


def app(environ, start_response):  # never called: the connections send nothing
    start_response("204 No Content", [])
    return []


def _per_turn(turn, socket_map):
    started = time.perf_counter()
    for _ in range(TURNS):
        turn(0.0, socket_map)
    return (time.perf_counter() - started) / TURNS * 1e6


def main():
    served = make_server(app, listen="127.0.0.1:0", threads=1, connection_limit=5000)
    loop = served.asyncore
    loop.loop(0.0, use_poll=True, map=served._map, count=1)  # makes its poller
    connections = []
    print("| idle connections | waitress's poll2 turn | RushLoop turn |")
    print("| --- | --- | --- |")
    try:
        for count in (0, 64, 256, 1024):
            while len(connections) < count:
                connections.append(socket.create_connection(("127.0.0.1", served.effective_port)))
            while len(served._map) < count + 2:  # the listener accepts one per turn
                loop.poll(0.0, served._map)
            for _ in range(10):
                loop.poll(0.0, served._map)
            rush_us = _per_turn(loop.poll, served._map)
            waitress_us = _per_turn(wasyncore.poll2, served._map)
            loop.touch_all()  # poll2 ran the channels' handlers outside RushLoop's books
            print(f"| {count} | {waitress_us:.1f} us | {rush_us:.1f} us |")
    finally:
        for connection in connections:
            connection.close()
        served.close()
        served.task_dispatcher.shutdown(timeout=5)


if __name__ == "__main__":
    main()
