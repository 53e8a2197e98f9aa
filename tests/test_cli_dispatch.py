"""`attnopt` dispatch: flag combinations Hydra itself would answer with a traceback."""
import pytest

from attnopt import cli


@pytest.mark.parametrize("flags", [["--cfg", "hydra"], ["--cfg=job"], ["--info", "searchpath"], ["-c", "all"]])
def test_multirun_with_a_print_flag_is_one_line_exit_2(flags, capsys):
    assert cli.main(["run", "-m", "optimizer=gd", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnopt: error: -m cannot be combined with") and err.count("\n") == 1
