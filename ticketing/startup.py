"""What the serving process gets at start-up beyond the app: one clear line for a port clash,
and the start-up heap frozen.

``pserve`` loads the app (``ticketing.main``) before waitress binds its port, and a port that
is already taken ends the process with waitress's ``OSError: [Errno 98] Address already in
use`` and a traceback through pserve, plaster and waitress. A developer who runs
``make run`` twice, or ops who give two units the same port, need the one line that says
what to do instead; any other error keeps its traceback.
"""
import errno
import gc
import sys


def explain_port_clash(http_port):
    """Replace the traceback of an uncaught "address already in use" with one line naming
    ``http_port`` (pserve's variable, as ``listen = 127.0.0.1:%(http_port)s`` uses it)."""
    previous = sys.excepthook

    def excepthook(kind, error, traceback):
        if issubclass(kind, OSError) and error.errno == errno.EADDRINUSE:
            print(f"ticketing: port {http_port} is already in use; stop what serves it, or choose "
                  f"another: pserve <ini> http_port=NNNN (make run PORT=NNNN)", file=sys.stderr)
            return
        previous(kind, error, traceback)

    sys.excepthook = excepthook



def freeze_startup_heap(settings):
    """``ticketing.gc_freeze``: move everything start-up loaded (modules, the app, the compiled
    OpenAPI spec, ~150,000 objects that live as long as the process) out of the collector's
    reach with ``gc.freeze()``, so the full collections of a rush do not walk it. Behind
    nginx it saved 4 % of the app's CPU per request in 4 of 4 side-by-side rounds
    (decision 0035)."""
    if settings.get("ticketing.gc_freeze"):
        gc.collect()
        gc.freeze()
