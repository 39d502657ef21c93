"""The benchmark's CPU meter counts PostgreSQL's processes: the backend serving a real
connection is found, and a backend caught before it set its title (so its command line still
reads like the postmaster's and names no database) is not judged until it has one."""
import psycopg2

from bench import environment


def test_a_real_backend_is_counted(database_url):
    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        counted = {process.pid for process in environment._PostgresProcesses()()}
    finally:
        connection.close()
    assert backend in counted


class FakeProcess:
    """psutil.Process for a scripted table of pids: name, command line, parent."""
    table = {}

    def __init__(self, pid):
        self.pid = pid

    def name(self):
        return self.table[self.pid][0]

    def cmdline(self):
        return self.table[self.pid][1]

    def ppid(self):
        return self.table[self.pid][2]

    def is_running(self):
        return self.pid in self.table


def test_a_backend_without_its_title_yet_is_classified_at_a_later_sample(monkeypatch):
    FakeProcess.table = {
        1: ("systemd", ["/sbin/init"], 0),
        100: ("postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"], 1),
        101: ("postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"], 100),
    }
    monkeypatch.setattr(environment.psutil, "Process", FakeProcess)
    monkeypatch.setattr(environment.psutil, "pids", lambda: list(FakeProcess.table))
    monkeypatch.setitem(environment.BENCH_DATABASE, "name", "ticketing_bench_1")
    processes = environment._PostgresProcesses()

    assert [process.pid for process in processes()] == [100], "the postmaster counts; 101 is undecided"
    FakeProcess.table[101] = ("postgres", ["postgres: postgres ticketing_other_run 127.0.0.1(5) idle"], 100)
    FakeProcess.table[102] = ("postgres", ["postgres: postgres ticketing_bench_1 127.0.0.1(6) idle"], 100)
    assert sorted(process.pid for process in processes()) == [100, 102], \
        "once titled, 101 shows it serves another run's database and is left out"
