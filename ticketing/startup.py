"""What the serving process gets at start-up beyond the app: one clear line for a port clash.

``pserve`` loads the app (``ticketing.main``) before waitress binds its port, and a port that
is already taken ends the process with waitress's ``OSError: [Errno 98] Address already in
use`` and a traceback through pserve, plaster and waitress. A developer who runs
``make run`` twice, or ops who give two units the same port, need the one line that says
what to do instead; any other error keeps its traceback.
"""
import errno
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
