"""waitress, with three changes for a rush: the entry point of
``[server:main] use = egg:ticketing#waitress``.

1. **A connection whose task owns its output is not "writable".** waitress's event loop asks
   every connection, on every turn, whether it wants to write. A connection whose task has
   just written its response says yes until the task ends, but the task holds that output's
   lock and flushes it itself (waitress sends from the task thread), so the loop can do
   nothing for it and turns again at once: with 256 fans connected the benchmark measured
   ~10,000 idle turns a second, each walking all 256 connections, a third of the process's
   CPU (docs/decisions/0015). ``TaskAwareChannel`` answers "no" while a task of the
   connection is queued or running and its output is below waitress's high watermark.
   Nothing is lost: when the task ends waitress wakes the loop (``pull_trigger``), which then
   sends whatever is left; above the watermark (a task waiting for the loop to drain a huge
   body) the channel is writable as before.

2. **poll(), not select().** waitress's default loop uses ``select()``, which cannot watch a
   file descriptor above 1023: with more than ~1,000 fans connected the loop died with
   ``ValueError: filedescriptor out of range`` and the process stopped answering anyone.
   ``connection_limit`` is 2,000 in production, so the server defaults to ``poll()``
   (``asyncore_use_poll``), which has no such limit (docs/decisions/0025).

3. **Every request knows how long it waited for a thread.** The task dispatcher stamps a
   connection when it queues its request, and the request's WSGI environ carries the stamp
   as ``ticketing.queued_at`` (``time.monotonic()``), so the app can refuse at once a request
   that waited so long its answer would come too late (ticketing/load_shedding.py).
"""
import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ThreadedTaskDispatcher, WSGITask

#: The environ key of the moment (``time.monotonic()``) the request was queued for a thread.
QUEUED_AT = "ticketing.queued_at"


class QueueTimedTask(WSGITask):
    """waitress's WSGI task, with the moment its request was queued in the environ."""

    def get_environment(self):
        environ = super().get_environment()
        environ[QUEUED_AT] = self.channel.queued_at
        return environ


class TaskAwareChannel(HTTPChannel):
    task_class = QueueTimedTask
    queued_at = None

    def writable(self):
        if (
            self.requests
            and not self.will_close
            and not self.close_when_flushed
            and self.total_outbufs_len < self.adj.outbuf_high_watermark
        ):
            return False
        return super().writable()


class QueueStampingDispatcher(ThreadedTaskDispatcher):
    """Stamps each channel when one of its requests joins the queue of tasks. A channel has
    at most one request queued or running at a time (waitress queues the next one when the
    previous ends), so one attribute per channel is enough, pipelining included."""

    def add_task(self, task):
        task.queued_at = time.monotonic()
        super().add_task(task)


def make_server(app, **settings):
    """``waitress.create_server`` with the three changes above."""
    settings.setdefault("asyncore_use_poll", True)
    dispatcher = QueueStampingDispatcher()
    dispatcher.set_thread_count(Adjustments(**settings).threads)
    socket_map = {}
    server = create_server(app, map=socket_map, _dispatcher=dispatcher, **settings)
    for listener in list(socket_map.values()):  # one per address in ``listen``
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = TaskAwareChannel
    return server


def serve(app, **settings):
    """Like :func:`waitress.serve`, with the changes above."""
    server = make_server(app, **settings)
    server.print_listen("Serving on http://{}:{}")
    server.run()


def serve_paste(app, global_conf, **settings):
    """PasteDeploy ``paste.server_runner``: what ``pserve`` calls."""
    serve(app, **settings)
    return 0
