"""The benchmark's CPU meter counts PostgreSQL's processes: the backend serving a real
connection is found; a backend caught before it set its title (so its command line still
reads like the postmaster's and names no database) is not judged until it has one, or until
it is clear it never will (``update_process_title = off``); a postmaster that is PID 1, with
no parent to read, is counted."""
import psutil
import psycopg2
import pytest

from bench import environment


def test_a_real_backend_is_counted(database_url):
    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        try:
            local = psutil.Process(backend).name() in environment._POSTGRES_NAMES
        except psutil.Error:
            local = False
        if not local:
            pytest.skip("the test database runs on another host: its backends are not ours to meter")
        counted = {process.pid for process in environment._PostgresProcesses()()}
    finally:
        connection.close()
    assert backend in counted


class FakeProcess:
    """psutil.Process for a scripted table of pids: name, command line, parent."""
    table = {}

    def __init__(self, pid):
        self.pid = pid

    def _row(self):
        if self.pid not in self.table:
            raise psutil.NoSuchProcess(self.pid)
        return self.table[self.pid]

    def name(self):
        return self._row()[0]

    def cmdline(self):
        return self._row()[1]

    def ppid(self):
        return self._row()[2]

    def is_running(self):
        return self.pid in self.table


@pytest.fixture
def scripted(monkeypatch):
    """Swaps psutil's process table for FakeProcess.table."""
    monkeypatch.setattr(environment.psutil, "Process", FakeProcess)
    monkeypatch.setattr(environment.psutil, "pids", lambda: list(FakeProcess.table))
    monkeypatch.setitem(environment.BENCH_DATABASE, "name", "ticketing_bench_1")


def test_a_backend_without_its_title_yet_is_classified_at_a_later_sample(scripted):
    FakeProcess.table = {
        1: ("systemd", ["/sbin/init"], 0),
        100: ("postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"], 1),
        101: ("postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"], 100),
    }
    processes = environment._PostgresProcesses()

    assert [process.pid for process in processes()] == [100], "the postmaster counts; 101 is undecided"
    FakeProcess.table[101] = ("postgres", ["postgres: postgres ticketing_other_run 127.0.0.1(5) idle"], 100)
    FakeProcess.table[102] = ("postgres", ["postgres: postgres ticketing_bench_1 127.0.0.1(6) idle"], 100)
    assert sorted(process.pid for process in processes()) == [100, 102], \
        "once titled, 101 shows it serves another run's database and is left out"


def test_a_postmaster_that_is_pid_1_is_counted(scripted):
    """In a container the postmaster is PID 1; its parent, pid 0, cannot be read."""
    FakeProcess.table = {
        1: ("postgres", ["postgres", "-D", "/data"], 0),
        7: ("postgres", ["postgres: postgres ticketing_bench_1 127.0.0.1(5) idle"], 1),
    }
    assert sorted(process.pid for process in environment._PostgresProcesses()()) == [1, 7]


def test_backends_that_never_set_a_title_are_counted_after_a_few_samples(scripted):
    """With update_process_title = off a backend keeps the postmaster's command line for
    life; after UNDECIDED_SAMPLES samples it is counted rather than ignored forever."""
    untitled = ["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"]
    FakeProcess.table = {1: ("systemd", ["/sbin/init"], 0), 100: ("postgres", untitled, 1),
                         101: ("postgres", untitled, 100)}
    processes = environment._PostgresProcesses()
    for _ in range(processes.UNDECIDED_SAMPLES):
        assert [process.pid for process in processes()] == [100]
    assert sorted(process.pid for process in processes()) == [100, 101]
    assert sorted(process.pid for process in processes()) == [100, 101], "and it stays counted"
