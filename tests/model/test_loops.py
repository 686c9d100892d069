"""The loop guard's echo rule on hand-made hypotheses: tokens with the encoder frame each one
attended most."""

from __future__ import annotations

from s2t_stream.model.loops import cut_echo, heard

# "… walk in the park in the park": the second copy attends the frames of the first
WALK = [16, 17, 18, 19, 20, 21, 22, 23]  # ▁w al k ▁in ▁the ▁p ar k
ECHO = [*WALK, 19, 20, 21, 22, 23]
ECHO_FRAMES = [55, 56, 61, 62, 65, 65, 68, 75, 75, 65, 65, 68, 75]


def test_a_copy_read_from_the_same_sound_is_cut_where_it_begins() -> None:
    assert cut_echo(ECHO, ECHO_FRAMES) == len(WALK)


def test_a_copy_said_later_in_the_audio_is_kept() -> None:
    later = [*ECHO_FRAMES[: len(WALK)], 80, 83, 84, 88, 92]
    assert cut_echo(ECHO, later) == len(ECHO)


def test_a_copy_cut_short_by_the_end_is_an_echo_too() -> None:
    """ "… walk in the park in the par": the second copy stops where the hypothesis does."""
    cut_short = [*WALK, 19, 20, 21, 22]
    assert cut_echo(cut_short, ECHO_FRAMES[:-1]) == len(WALK)


def test_a_cut_short_copy_said_later_is_kept() -> None:
    cut_short = [*WALK, 19, 20, 21, 22]
    later = [*ECHO_FRAMES[: len(WALK)], 80, 83, 84, 88]
    assert cut_echo(cut_short, later) == len(cut_short)


def test_a_cut_short_copy_heard_after_the_part_it_copies_is_kept() -> None:
    """ "…restaurants in berkeley … restaurant": the ending matches the start of the words
    before it and attends no later than their last frame, but none of it attends their sound."""
    tokens = [1, 2, 3, 1, 2]
    assert cut_echo(tokens, [10, 11, 30, 20, 21]) == len(tokens)
    assert cut_echo(tokens, [10, 11, 30, 10, 21]) == 3  # half of it reads the sound again


def test_an_ending_that_only_starts_like_the_words_before_it_is_kept() -> None:
    """One token in common is a word said again, not an echo ("… the park the"), even
    attending the sound of the first one."""
    ending = [*WALK, 20]
    assert cut_echo(ending, [*ECHO_FRAMES[: len(WALK)], 65]) == len(ending)


def test_a_cut_short_copy_of_half_the_words_or_less_is_kept() -> None:
    """Two tokens of five, or of four, read from the same sound: too little to call an echo."""
    assert cut_echo([1, 2, 3, 4, 5, 1, 2], [10, 11, 12, 13, 14, 10, 11]) == 7
    assert cut_echo([1, 2, 3, 4, 1, 2], [10, 11, 12, 13, 10, 11]) == 6
    assert cut_echo([1, 2, 3, 1, 2], [10, 11, 12, 10, 11]) == 3  # two of three: an echo


def test_a_single_token_said_twice_is_not_an_echo() -> None:
    assert cut_echo([5, 7, 7], [10, 12, 12]) == 3


def test_an_echo_in_the_middle_cuts_what_follows_it_too() -> None:
    tokens = [1, 2, 3, 1, 2, 3, 4, 5]
    frames = [10, 11, 12, 10, 11, 12, 13, 14]
    assert cut_echo(tokens, frames) == 3


def test_heard_takes_the_echo_rule_with_the_others() -> None:
    assert heard(ECHO, ECHO_FRAMES, 200) == len(WALK)
    assert heard(WALK, ECHO_FRAMES[: len(WALK)], 200) == len(WALK)
