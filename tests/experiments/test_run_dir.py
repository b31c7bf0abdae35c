"""Run directories: `prepare` validates without touching anything; `--overwrite` never loses a finished run."""

import os

import pytest

from rtrl.experiments import run_dir


def _old_run(path):
    path.mkdir()
    (path / "config.yaml").write_text("steps: 10\n")
    (path / "seed_0.csv").write_text("step,msre\n1,0.5\n")
    return path


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in dirs + files)


def test_prepare_changes_nothing(tmp_path):
    before = _listing(tmp_path)
    plan = run_dir.prepare(str(tmp_path / "a" / "b" / "run"))
    assert plan.backup is None and not plan.exists
    assert _listing(tmp_path) == before  # the probe was removed, the parents not created
    _old_run(tmp_path / "old")
    before = _listing(tmp_path)
    plan = run_dir.prepare(str(tmp_path / "old"), overwrite=True)
    assert plan.backup is not None and _listing(tmp_path) == before


def test_an_existing_run_needs_overwrite(tmp_path):
    _old_run(tmp_path / "run")
    with pytest.raises(ValueError, match="already exists.*--overwrite"):
        run_dir.prepare(str(tmp_path / "run"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        run_dir.prepare(str(tmp_path / "empty"))
    assert run_dir.prepare(str(tmp_path / "empty"), overwrite=True).backup is None


@pytest.mark.parametrize("content", [{"notes.txt": "mine"}, {"config.yaml": "- not\n- a mapping\n"},
                                     {"config.yaml": ": : bad yaml ["}])
def test_a_directory_that_is_not_a_run_is_never_replaced(tmp_path, content):
    home = tmp_path / "home"
    home.mkdir()
    for name, text in content.items():
        (home / name).write_text(text)
    with pytest.raises(ValueError, match="is not a run directory"):
        run_dir.prepare(str(home), overwrite=True)


def test_a_file_or_a_path_below_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a run directory"):
        run_dir.prepare(str(tmp_path / "file"), overwrite=True)
    with pytest.raises(ValueError, match="is a file, not a directory"):
        run_dir.prepare(str(tmp_path / "file" / "sub" / "run"))
    with pytest.raises(ValueError, match="non-empty path"):
        run_dir.prepare("")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_an_unwritable_place_is_refused_even_for_root():
    with pytest.raises(ValueError, match="is not writable"):
        run_dir.prepare("/proc/rtrl-test/run")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_parent_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            run_dir.prepare(str(locked / "run"))
    finally:
        locked.chmod(0o700)


def test_a_crash_after_start_keeps_the_old_run_where_the_message_says(tmp_path):
    old = _old_run(tmp_path / "run")
    plan = run_dir.prepare(str(old), overwrite=True)
    with pytest.raises(ValueError, match="boom") as e:
        with run_dir.replacing(plan, {"steps": 20}):
            (old / "seed_0.csv").write_text("partial")
            raise ValueError("boom")
    message = str(e.value)
    assert plan.backup in message and "kept at" in message
    assert (tmp_path / plan.backup / "seed_0.csv").read_text() == "step,msre\n1,0.5\n"
    assert (tmp_path / plan.backup / "config.yaml").read_text() == "steps: 10\n"


def test_other_errors_carry_the_backup_as_a_note(tmp_path):
    old = _old_run(tmp_path / "run")
    plan = run_dir.prepare(str(old), overwrite=True)
    with pytest.raises(KeyboardInterrupt) as e:
        with run_dir.replacing(plan, {"steps": 20}):
            raise KeyboardInterrupt
    assert any(plan.backup in note for note in e.value.__notes__)
    assert os.path.isdir(plan.backup)


def test_a_completed_run_replaces_the_old_one_and_leaves_no_backup(tmp_path):
    old = _old_run(tmp_path / "run")
    plan = run_dir.prepare(str(old), overwrite=True)
    with run_dir.replacing(plan, {"steps": 20}) as path:
        assert os.path.isdir(plan.backup)  # moved aside while the new run runs
        (tmp_path / path / "seed_0.csv").write_text("new")
    assert (old / "seed_0.csv").read_text() == "new" and "steps: 20" in (old / "config.yaml").read_text()
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_start_creates_missing_parents(tmp_path):
    plan = run_dir.prepare(str(tmp_path / "a" / "b" / "run"))
    with run_dir.replacing(plan, {"x": 1}):
        pass
    assert (tmp_path / "a" / "b" / "run" / "config.yaml").exists()


def test_prediction_write_keeps_the_old_run_when_writing_fails(tmp_path, monkeypatch):
    from rtrl.experiments import plots, prediction

    result = prediction.run(prediction.PredictionConfig(hidden_size=2, steps=200, seeds=1, chunk=200,
                                                        curve_points=2, final_window=100))
    old = _old_run(tmp_path / "run")

    def broken_plot(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(plots, "learning_curves", broken_plot)
    with pytest.raises(OSError, match="disk full") as e:
        prediction.write(result, str(old), overwrite=True)
    backup = [n for n in os.listdir(tmp_path) if n.startswith(".run.replaced-")]
    assert len(backup) == 1 and any(backup[0] in note for note in e.value.__notes__)
    assert (tmp_path / backup[0] / "seed_0.csv").read_text() == "step,msre\n1,0.5\n"
