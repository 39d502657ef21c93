"""waitress, with the changes a rush needs: the entry point of
``[server:main] use = egg:ticketing#waitress``.

1. **A connection whose task owns its output is not "writable"** (decision 0015). waitress's
   event loop asks every connection, on every turn, whether it wants to write. A connection
   whose task has just written its response said yes until the task ended, but the task
   holds that output's lock and flushes it itself (waitress sends from the task thread), so
   the loop could do nothing for it and turned again at once: with 256 fans connected,
   ~10,000 idle turns a second, a third of the process's CPU. ``TaskAwareChannel`` answers
   "no" while a task of the connection is queued or running and its output is below
   waitress's high watermark; when the task ends waitress wakes the loop (``pull_trigger``),
   which sends whatever is left.

2. **Connections waiting for their task are not even asked** (decision 0025). Such a
   connection is neither readable (waitress reads no further request while one is pending)
   nor writable (1.), yet the loop still called both methods on it every turn: with 1,800
   fans waiting that walk was most of the loop's work. The dispatcher marks a connection
   parked when it queues its request; the task clears the mark once its response is
   written, before waitress wakes the loop (and before it waits on the loop for a huge body,
   and the connection when it closes); the loop (``RushLoop``) skips parked connections
   without a call.

3. **poll(), not select()** (decision 0025). ``select()`` cannot watch a file descriptor
   above 1023: with more than ~1,000 fans connected the loop died with ``ValueError:
   filedescriptor out of range`` and the process stopped answering anyone.
   ``connection_limit`` is 2,000 in production, so the server defaults to ``poll()``.

4. **Every request knows how long it waited, and finishing work goes first** (decision
   0025). The dispatcher stamps a connection when it queues its request, and the request's
   environ carries the stamp (``ticketing.queued_at``), so the app can refuse a request that
   waited too long (ticketing/load_shedding.py). A request that finishes work already
   started (paying for a hold, releasing one, a gate scan) and carries credentials is
   queued ahead of new work, in arrival order among its kind, while fewer than four per
   thread are ahead: a fan holding seats is not kept waiting behind fans who have none yet,
   and a flood of made-up checkouts cannot shut new work out.

5. **What start-up loaded is frozen** (``gc.freeze``, decision 0027). The app's modules,
   functions, classes and compiled structures (SQLAlchemy, Pyramid, the OpenAPI spec):
   ~150,000 objects that live as long as the process. Python's full collections walked them
   all, every few seconds under load: 60–100 ms each on this machine, every thread stopped,
   the largest stall a request met. Collected once and frozen just before serving, they are
   no longer walked: a full collection during a sell-out takes 2–12 ms.

6. **Idle keep-alive connections cost nothing per turn** (decision 0031). waitress builds a
   new ``poll`` set on every turn, asking every connection whether it reads or writes: a
   connection between two requests of its fan cost ~0.5 us a turn, a few thousand turns a
   second. A rush's fans keep their connections open (up to 30 s after their last request),
   and every one of them lengthened every turn, on the GIL: a queue that opens more
   connections makes itself longer (400 idle connections at 180 purchases/s: p99 16 -> 129
   ms). ``RushLoop`` keeps each connection registered with the kernel (epoll) for the whole
   run and asks only the connections that may have changed.

7. **Threads hand the GIL over every 20 ms, not every 5** (decision 0032). A thread that
   wants the GIL asks its holder to drop it after the switch interval; the app's threads
   drop it anyway at every database round trip, so a forced switch mostly interrupts a short
   burst of Python to hand it to a thread that will soon wait again. At 20 ms a process sold
   10–12 % more purchases a second than at CPython's 5 ms (8 of 8 alternating runs).
   ``gil_switch_interval_ms`` in ``[server:main]`` sets it.
"""
import contextlib
import gc
import select
import sys
import threading
import time
from errno import EINTR

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from ticketing.load_shedding import QUEUED_AT, finishes_work


#: At most this many finishing requests per thread queue ahead of new work (RushDispatcher).
PRIORITY_LANE_PER_THREAD = 4


class UnparkWhenAnswered:
    """A task that unparks its connection as soon as its response is written, before
    waitress's ``HTTPChannel.service`` finishes and wakes the loop: the loop then sees the
    connection on the turn that wake-up causes, with no second wake-up. In between, the
    connection still holds its request, so it is neither readable nor writable (1. above)."""

    def service(self):
        try:
            super().service()
        finally:
            self.channel.unpark()


class UnparkingErrorTask(UnparkWhenAnswered, ErrorTask):
    """waitress's answer to a request it could not parse (400, 413, ...)."""


class QueueTimedTask(UnparkWhenAnswered, WSGITask):
    """waitress's WSGI task, with the moment its request was queued in the environ."""

    def get_environment(self):
        environ = super().get_environment()
        environ[QUEUED_AT] = self.channel.queued_at
        return environ


class TaskAwareChannel(HTTPChannel):
    task_class = QueueTimedTask
    error_task_class = UnparkingErrorTask
    queued_at = None
    first_in_line = False  # its queued request finishes work: it went ahead of new work

    def writable(self):
        if (
            self.requests
            and not self.will_close
            and not self.close_when_flushed
            and self.total_outbufs_len < self.adj.outbuf_high_watermark
        ):
            return False
        return super().writable()

    closed_for_parking = False  # set under the dispatcher's park lock when the channel closes

    def between_requests(self):
        """Whether this keep-alive connection is idle: no request being read, queued or
        answered, nothing to send, not closing. Its flags then stay "read only" until an
        event on it (6. above). ``requests`` is read first: a task empties it last, after
        its output and ``close_when_flushed`` (waitress's ``service``), so an empty list
        means the rest is already as the task left it."""
        return (
            not self.requests
            and self.request is None
            and not self.total_outbufs_len
            and not self.will_close
            and not self.close_when_flushed
            and self.connected
        )

    def unpark(self):
        """Let the loop look at this connection again (2. above); whether it was parked."""
        parked = getattr(self.server.task_dispatcher, "parked", None)
        if parked is None or self._fileno not in parked:
            return False
        parked.discard(self._fileno)
        self._touch(self._fileno)
        return True

    def _touch(self, fileno):
        """The loop looks at this descriptor on its next turn (RushLoop.touch)."""
        touch = getattr(getattr(self.server, "asyncore", None), "touch", None)
        if touch is not None and fileno is not None:
            touch(fileno)

    def add_channel(self, map=None):
        super().add_channel(map)
        self._touch(self._fileno)  # a new connection, maybe on a closed one's descriptor

    def service(self):
        # The task unparks the connection before waitress wakes the loop; a pipelined request
        # that service() queues parks it again, rightly (its own task will unpark it). Only
        # an exception waitress lets through (not an Exception) can leave it parked with no
        # wake-up to come: unpark it and wake the loop before passing it on.
        try:
            super().service()
        except BaseException:
            if self.unpark() and self.connected:
                self.server.pull_trigger()
            raise

    def _flush_outbufs_below_high_watermark(self):
        if self.total_outbufs_len > self.adj.outbuf_high_watermark:
            self.unpark()  # the task is about to wait for the loop to drain its output
        super()._flush_outbufs_below_high_watermark()

    def del_channel(self, map=None):
        # Before the socket closes, so its descriptor cannot be reused while marked parked;
        # under the park lock, so a task thread queueing a pipelined request right now
        # cannot park the descriptor after this (RushDispatcher.park).
        park_lock = getattr(self.server.task_dispatcher, "park_lock", None)
        with park_lock if park_lock is not None else _NO_LOCK:
            self.closed_for_parking = True
            self.unpark()
        fileno = self._fileno
        super().del_channel(map)
        self._touch(fileno)

    def cancel(self):
        """Server shutdown: queued requests are dropped, so nothing stays parked."""
        super().cancel()
        self.unpark()


def _finishes_work(request):
    """Whether waitress's parsed ``request`` finishes work (load_shedding.FINISHING_WORK) and
    carries credentials: made-up URLs without any do not jump the queue. Never raises: a
    request waitress could not parse has no method or path, and goes to its error task."""
    if request is None or request.error is not None:
        return False
    headers = request.headers
    if not headers.get("AUTHORIZATION", "").startswith("Bearer ") and "COOKIE" not in headers:
        return False
    path = request.path or ""
    if path.startswith("/"):
        path = "/" + path.lstrip("/")  # as waitress builds PATH_INFO
    return finishes_work(request.command, path)


_NO_LOCK = contextlib.nullcontext()


class RushDispatcher(ThreadedTaskDispatcher):
    """Stamps and parks each connection when its request joins the queue; a request that
    finishes work joins it behind the other such requests, ahead of the rest, while fewer
    than ``lane_limit`` of them are at the front (beyond that it queues like new work, so
    arrival order among them holds only while the lane has room). A connection has at most one request queued or running at a time (waitress queues
    the next one when the previous ends), so attributes on the connection are enough,
    pipelining included.

    ``parked``: the file descriptors of parked connections. Python's set operations are
    atomic under the GIL, so the loop reads it without a lock; ``park_lock`` only orders a
    park against the connection's closing (``TaskAwareChannel.del_channel``)."""

    def __init__(self, park, lane_limit):
        super().__init__()
        self.park = park
        self.lane_limit = lane_limit
        self.parked = set()
        self.park_lock = threading.Lock()

    def park_channel(self, channel):
        """Mark ``channel`` parked, unless it has closed (its descriptor may be reused)."""
        with self.park_lock:
            fileno = channel._fileno
            if fileno is not None and not channel.closed_for_parking:
                self.parked.add(fileno)

    def add_task(self, task):
        task.queued_at = time.monotonic()
        task.first_in_line = _finishes_work(task.requests[0] if task.requests else None)
        if self.park:
            self.park_channel(task)
        if task.first_in_line:
            with self.lock:
                queue = self.queue
                position = 0
                while position < len(queue) and queue[position].first_in_line:
                    position += 1
                if position < self.lane_limit:
                    queue.insert(position, task)
                    self.queue_cv.notify()
                    return
            task.first_in_line = False
        super().add_task(task)


_READ = select.POLLIN | select.POLLPRI if hasattr(select, "poll") else 0
_WRITE = select.POLLOUT if hasattr(select, "poll") else 0


class _Poller:
    """One ``epoll`` (Linux) or ``poll`` object for the whole run, with what it holds: epoll
    answers in time proportional to the ready descriptors, poll to all of them. The two
    spell registering, changing and dropping a descriptor differently; this says it once."""

    def __init__(self, use_epoll=None):
        self.epoll = hasattr(select, "epoll") if use_epoll is None else use_epoll
        self.poller = select.epoll() if self.epoll else select.poll()
        self.held = {}  # fd -> (object, flags) as the kernel has it

    def set(self, fd, obj, flags):
        held = self.held.get(fd)
        if held == (obj, flags):
            return
        if not flags:
            self.drop(fd)
            return
        if held is not None and held[0] is not obj:
            self.drop(fd)  # a closed connection's descriptor, reused by a new one
            held = None
        try:
            if self.epoll and held is not None:
                self.poller.modify(fd, flags)
            else:
                self.poller.register(fd, flags)
        except OSError:
            # Closed since the loop asked it (a task thread closes a connection whose client
            # reset it while waitress sent a 100 Continue): epoll refuses the descriptor.
            # Its del_channel touched it, so the next turn looks at it again.
            self.held.pop(fd, None)
            return
        self.held[fd] = (obj, flags)

    def drop(self, fd):
        if self.held.pop(fd, None) is None:
            return
        try:
            self.poller.unregister(fd)
        except (KeyError, OSError):
            pass  # closed already: the kernel dropped it with the file (epoll)

    def close(self):
        if self.epoll:
            self.poller.close()
        self.held.clear()

    def poll(self, timeout):
        """Ready (fd, flags); ``timeout`` in seconds, None to wait for an event."""
        if self.epoll:
            return self.poller.poll(-1 if timeout is None else timeout)
        return self.poller.poll(None if timeout is None else int(timeout * 1000))


class RushLoop:
    """Stands in for the ``wasyncore`` module as the server's ``asyncore`` (what its ``run()``
    calls ``loop`` on): waitress's loop, whose turn looks only at the connections that may
    have changed (2. and 6. above).

    The kernel keeps each descriptor's registration for the whole run. A turn computes the
    flags of the *restless* descriptors (the listener, the trigger, connections reading a
    request, sending or closing) and of the *touched* ones, then waits. A connection is
    touched by an event on it, by being unparked (its task is ending; it is restless until
    the task has let go of it), by closing (``touch`` from ``del_channel``: its descriptor
    may be reused by the next connection) and, all of them, by the listener's maintenance
    (which may have timed an idle connection out). A parked connection is dropped from
    the kernel's set; a keep-alive connection between requests stays registered for
    reading and is not looked at again until it is touched."""

    dispatcher = wasyncore.dispatcher

    def __init__(self, parked, use_epoll=None):
        self.parked = parked
        self.use_epoll = use_epoll
        self.poller = None
        self.restless = set()
        self.touched = set()  # any thread adds; the loop pops (atomic under the GIL)

    def loop(self, timeout=30.0, use_poll=False, map=None, count=None):
        if not (use_poll and hasattr(select, "poll")):
            turn = wasyncore.poll  # select(): waitress's own turn, nothing standing
        else:
            if self.poller is None:
                self.poller = _Poller(self.use_epoll)
                self.touched.update(map)
            turn = self.poll
        while map and (count is None or count > 0):
            turn(timeout, map)
            if count is not None:
                count -= 1
        if not map and self.poller is not None:  # the server has closed: so does the poller
            self.poller.close()
            self.poller = None

    def touch(self, fd):
        """Look at ``fd`` on the next turn (any thread may call this). Without a poller
        (select(), or not started) there is nothing standing to look at again."""
        if self.poller is not None:
            self.touched.add(fd)

    def touch_all(self):
        """Look at every registered descriptor on the next turn (after maintenance)."""
        self.touched.update(self.poller.held if self.poller is not None else ())

    def poll(self, timeout, map):
        """One turn: waitress's ``poll2``, over the restless and touched descriptors."""
        poller, restless, touched, parked = self.poller, self.restless, self.touched, self.parked
        look = set(restless)
        while touched:
            look.add(touched.pop())
        for fd in look:
            obj = map.get(fd)
            if obj is None or fd in parked:
                poller.drop(fd)
                restless.discard(fd)
                continue
            flags = 0
            if obj.readable():
                flags |= _READ
            if obj.writable() and not obj.accepting:  # accepting sockets are never writable
                flags |= _WRITE
            poller.set(fd, obj, flags)
            if flags == _READ and getattr(obj, "between_requests", _never)():
                restless.discard(fd)
            else:
                restless.add(fd)
        try:
            ready = poller.poll(timeout)
        except OSError as err:
            if err.args[0] != EINTR:
                raise
            ready = []
        for fd, flags in ready:
            obj = map.get(fd)
            if obj is not None:
                wasyncore.readwrite(obj, flags)
            touched.add(fd)


def _never():
    return False


def make_server(app, **settings):
    """``waitress.create_server`` with the changes above."""
    settings.setdefault("asyncore_use_poll", True)
    adjustments = Adjustments(**settings)
    # Parking relies on a pending request making its connection unreadable, waitress's
    # default (no request lookahead); with lookahead the loop must keep asking.
    dispatcher = RushDispatcher(park=adjustments.channel_request_lookahead == 0,
                                lane_limit=PRIORITY_LANE_PER_THREAD * adjustments.threads)
    dispatcher.set_thread_count(adjustments.threads)
    socket_map = {}
    server = create_server(app, map=socket_map, _dispatcher=dispatcher, **settings)
    loop = RushLoop(dispatcher.parked)
    server.asyncore = loop
    for listener in list(socket_map.values()):  # one per address in ``listen``
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = TaskAwareChannel
            listener.asyncore = loop  # (a MultiSocketServer's listeners are not ``server``)
            listener.maintenance = _touching_all(listener.maintenance, loop)
    return server


def _touching_all(maintenance, loop):
    """waitress's maintenance marks connections idle too long to close: the loop must look
    at its registered connections again for that to happen (RushLoop)."""

    def maintenance_then_touch_all(now):
        maintenance(now)
        loop.touch_all()

    return maintenance_then_touch_all


def freeze_startup_heap():
    """(5.) Collect what start-up left behind, then move every object alive now to the
    permanent generation, which collections skip. Called once, just before serving: a
    garbage cycle frozen would never be freed, hence the collection first."""
    gc.collect()
    gc.freeze()


#: The GIL's switch interval while serving, in milliseconds (7. above, decision 0032).
DEFAULT_GIL_SWITCH_INTERVAL_MS = 20.0


def gil_switch_interval(settings):
    """Take ``gil_switch_interval_ms`` out of the server settings (waitress would refuse
    it): seconds, for ``sys.setswitchinterval``."""
    raw = settings.pop("gil_switch_interval_ms", DEFAULT_GIL_SWITCH_INTERVAL_MS)
    try:
        milliseconds = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"gil_switch_interval_ms must be a number of milliseconds, not {raw!r}") from None
    if not 0.1 <= milliseconds <= 1000:
        raise ValueError(f"gil_switch_interval_ms must be between 0.1 and 1000, not {milliseconds}")
    return milliseconds / 1000


def serve(app, **settings):
    """Like :func:`waitress.serve`, with the changes above."""
    switch_interval = gil_switch_interval(settings)
    server = make_server(app, **settings)
    server.print_listen("Serving on http://{}:{}")
    sys.setswitchinterval(switch_interval)
    freeze_startup_heap()
    server.run()


def serve_paste(app, global_conf, **settings):
    """PasteDeploy ``paste.server_runner``: what ``pserve`` calls."""
    serve(app, **settings)
    return 0
