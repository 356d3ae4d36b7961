"""Tests of the one exercise runner (vitlib.course.exercise), across every notebook's checkers."""

import pytest

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb00_introduction import check_num_patches
from vitlib.course.nb01_patching import check_conv_weight_to_E, check_patchify
from vitlib.course.nb02_class_token_and_position import check_embed_tokens, check_pos_similarity


def not_attempted(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check",
    [check_num_patches, check_patchify, check_conv_weight_to_E, check_embed_tokens,
     check_pos_similarity],
)
def test_placeholder_is_not_attempted_yet(check, capsys):
    assert check(not_attempted) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check",
    [check_num_patches, check_patchify, check_conv_weight_to_E, check_embed_tokens,
     check_pos_similarity],
)
def test_other_errors_name_the_function(check):
    def broken(*args):
        raise KeyError("oops")

    with pytest.raises(ExerciseError, match=r"broken\(.*raised KeyError"):
        check(broken)
