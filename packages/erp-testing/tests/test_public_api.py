import subprocess
import sys

import erp_testing


def test_exported_members_are_pinned():
    assert erp_testing.__all__ == [
        "PostgresServer",
        "RedisServer",
        "ServerProcess",
        "find_postgres_bindir",
    ]
    assert all(hasattr(erp_testing, name) for name in erp_testing.__all__)


def test_the_root_leaves_the_database_plugin_for_pytest_to_load():
    program = "import sys, erp_testing; print('erp_testing.database' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
