"""The parent run's note as the MLflow UI shows it: markdown paragraphs, the outcomes before the folds."""
from __future__ import annotations

from sweep import run_notes

AXES = [("eta_over_b", [0.006, 0.009]), ("width", [32]), ("seed", [0, 1])]


def test_sweep_note_puts_outcomes_in_their_own_paragraph_before_the_axis_list():
    note = run_notes.sweep_note("demo", AXES, {"converged": 1, "capped": 3, "failed": 0}, ["c1 (g): **holds**"])
    blocks = note.split("\n\n")
    assert blocks[0] == "Sweep **demo**: 4 trials = 2 eta_over_b × 1 width × 2 seed"
    # A line right after a list item would render inside that item (and below the UI's "Show more").
    assert blocks[1] == "Outcomes: 1 converged, 3 capped"
    assert blocks[2] == "- eta_over_b: 0.006, 0.009\n- seed: 0, 1"
    assert blocks[3] == f"{run_notes.CLAIMS_HEADING}\n- c1 (g): **holds**"
    assert run_notes.note_claims(note) == ["c1 (g): **holds**"]


def test_sweep_note_before_any_count_has_no_outcomes_line():
    note = run_notes.sweep_note("demo", AXES, None)
    assert "Outcomes" not in note and note.split("\n\n")[1].startswith("- eta_over_b")
