"""The README's first screen says what its commands are: as many commands as it announces, and
as many epochs as its training command runs (the frozen-backbone epochs come on top of
--epoch_num)."""

import os
import re

from conftest import REPOSITORY

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def first_screen() -> str:
    with open(os.path.join(REPOSITORY, "README.md")) as readme:
        text = readme.read()
    start = text.index("## Quick start")
    return text[start : text.index("**What the numbers are.**", start)]


def test_the_quick_start_announces_as_many_commands_as_it_shows():
    screen = first_screen()
    announced = re.search(r"\n(\w+) commands, each for a new shell", screen)
    assert announced, "the first sentence names how many commands follow"
    blocks = re.findall(r"```bash\n", screen)
    assert NUMBERS[announced[1].lower()] == len(blocks), (announced[1], len(blocks))


def test_the_quick_start_says_how_many_epochs_its_command_trains():
    screen = first_screen()
    command = re.search(r"```bash\n(.*?)```", screen, re.S)[1]
    frozen = int(re.search(r"--freeze_backbone_for_N_epochs (\d+)", command)[1])
    epochs = int(re.search(r"--epoch_num (\d+)", command)[1])
    said = re.search(r"It trains (\w+) epochs: one with the backbone frozen", screen)
    assert said, "the text after the command says how many epochs it trains, and why"
    assert NUMBERS[said[1]] == frozen + epochs == 3
    assert f"`--epoch_num {epochs}`" in screen  # where the number is, the text names the flag
