"""waitress, with one fix for many concurrent connections: the entry point of
``[server:main] use = egg:ticketing#waitress``.

waitress's event loop asks every connection, on every turn, whether it wants to write. A
connection whose task has just written its response says yes until the task ends, but the
task holds that output's lock and flushes it itself (waitress sends from the task thread),
so the loop can do nothing for it and turns again at once: with 256 fans connected the
benchmark measured ~10,000 idle turns a second, each walking all 256 connections, a third
of the process's CPU (docs/decisions/0015).

``TaskAwareChannel`` answers "no" while a task of the connection is queued or running and
its output is below waitress's high watermark. Nothing is lost: when the task ends waitress
wakes the loop (``pull_trigger``), which then sends whatever is left; above the watermark
(a task waiting for the loop to drain a huge body) the channel is writable as before.
"""
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server


class TaskAwareChannel(HTTPChannel):
    def writable(self):
        if (
            self.requests
            and not self.will_close
            and not self.close_when_flushed
            and self.total_outbufs_len < self.adj.outbuf_high_watermark
        ):
            return False
        return super().writable()


def make_server(app, **settings):
    """``waitress.create_server`` whose listening sockets make :class:`TaskAwareChannel` connections."""
    socket_map = {}
    server = create_server(app, map=socket_map, **settings)
    for dispatcher in list(socket_map.values()):  # one per address in ``listen``
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = TaskAwareChannel
    return server


def serve(app, **settings):
    """Like :func:`waitress.serve`, with :class:`TaskAwareChannel`."""
    server = make_server(app, **settings)
    server.print_listen("Serving on http://{}:{}")
    server.run()


def serve_paste(app, global_conf, **settings):
    """PasteDeploy ``paste.server_runner``: what ``pserve`` calls."""
    serve(app, **settings)
    return 0

