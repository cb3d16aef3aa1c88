"""widgets.ipynb shows what it says: a cell awaits a click, a wizard, the off switch.

The notebook clicks with its own stand-in for the mouse, which sends the
kernel the comm message a frontend sends; so these are the pump's real path.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def nb(executed: Callable[[str], NotebookNode]) -> NotebookNode:
    return executed("widgets.ipynb")


def test_a_cell_waits_for_the_button_and_carries_on_once_clicked(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "button")) == (
        "waiting for the button...\nclicked, carrying on\n"
    )


def test_the_wizard_gets_each_answer_in_turn(nb: NotebookNode) -> None:
    # The dropdown's answer decides the button's label and the last line.
    assert tour.stdout(tour.cell(nb, "wizard")) == "loading the large data set\n"


def test_with_widget_events_off_the_click_waits_until_the_cell_has_ended(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "off-wait")) == "no click during the cell\n"
    assert tour.result(tour.cell(nb, "off-after")) == "['after the cell']"
