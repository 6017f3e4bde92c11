"""The pure parts: organ weights, probability fusion, rejection score, request validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hortus.errors import InvalidInput
from hortus.identify import fusion
from hortus.identify.params import check_organs
from hortus.identify.schemas import IdentifyOptions
from hortus.plants.taxonomy import language_chain, normalise_name


def test_organ_weights_rank_flowers_and_fruits_over_leaves_over_bark():
    w = fusion.ORGAN_WEIGHTS
    assert w["flower"] >= w["fruit"] > w["leaf"] > w["bark"]
    assert set(w) == set(fusion.ORGANS)


def test_one_full_weight_photo_is_its_own_distribution():
    p = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(fusion.fuse_probabilities(p, np.array([1.0])), p[0], atol=1e-9)


@pytest.mark.parametrize("organ", ["leaf", "auto", "bark", "habit", "other", "fruit"])
def test_one_photo_of_any_organ_keeps_its_calibrated_distribution(organ):
    # The head's temperature was fitted on single photos: a leaf photo alone must not be
    # flattened by its organ's weight (it was raised to 0.6 before).
    p = np.array([[0.7, 0.2, 0.1]])
    fused = fusion.fuse_probabilities(p, fusion.organ_weights([organ]))
    assert np.allclose(fused, p[0], atol=1e-9)


def test_weights_are_relative_to_the_most_telling_organ():
    w = fusion.organ_weights(["leaf", "bark", "leaf"])
    assert w.max() == 1.0
    assert w[1] / w[0] == pytest.approx(fusion.ORGAN_WEIGHTS["bark"] / fusion.ORGAN_WEIGHTS["leaf"])


def test_agreeing_photos_sharpen_and_the_pool_is_normalised():
    p = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    fused = fusion.fuse_probabilities(p, fusion.organ_weights(["flower", "flower"]))
    assert fused.sum() == pytest.approx(1.0)
    assert fused[0] > 0.6 and fused.argmax() == 0


def test_a_flower_outweighs_a_disagreeing_bark_photo():
    flower, bark = [0.7, 0.3], [0.3, 0.7]
    fused = fusion.fuse_probabilities(np.array([flower, bark]),
                                      fusion.organ_weights(["flower", "bark"]))
    assert fused.argmax() == 0
    # the same two photos with the organs swapped flip the answer
    swapped = fusion.fuse_probabilities(np.array([flower, bark]),
                                        fusion.organ_weights(["bark", "flower"]))
    assert swapped.argmax() == 1


def test_one_photo_cannot_veto_a_class():
    p = np.array([[0.0, 1.0], [0.9, 0.1], [0.9, 0.1]])
    fused = fusion.fuse_probabilities(p, np.ones(3))
    assert np.isfinite(fused).all() and fused[0] > 0


def test_known_score_is_the_weighted_mean():
    score = fusion.fuse_known_scores(np.array([0.9, 0.3]), np.array([1.0, 0.5]))
    assert score == pytest.approx((0.9 + 0.15) / 1.5)


def test_group_sums_and_ranking_and_project_mixture():
    scores = {"A a": 0.5, "A b": 0.2, "B c": 0.3}
    sums = fusion.sum_by_group(scores, {"A a": "A", "A b": "A", "B c": "B"})
    assert sums == pytest.approx({"A": 0.7, "B": 0.3})
    assert [t.name for t in fusion.rank(sums, 5)] == ["A", "B"]
    mixed = fusion.mix_projects([{"x": 1.0}, {"x": 0.5, "y": 0.5}], [0.9, 0.1])
    assert sum(mixed.values()) == pytest.approx(1.0) and mixed["x"] == pytest.approx(0.95)


@pytest.mark.parametrize(("organs", "count", "error"), [
    ([], 0, "no image"), (["leaf"] * 6, 6, "too many images"),
    (["leaf"], 2, "organ count mismatch"), (["root"], 1, "unknown organ"),
    (["habit"], 1, "no primary organ"), (["habit", "other"], 2, "no primary organ"),
])
def test_organ_rules(organs, count, error):
    with pytest.raises(InvalidInput) as caught:
        check_organs(organs, count)
    assert caught.value.error == error


def test_organs_default_to_auto_and_secondary_organs_come_beside_a_primary():
    assert check_organs([], 2) == ["auto", "auto"]
    assert check_organs(["Flower", "habit"], 2) == ["flower", "habit"]


def test_query_options():
    """The query model reads what clients send: R's ``TRUE``, ``1``, empty values, any case."""
    options = IdentifyOptions.model_validate({
        "include-related-images": "TRUE", "no-reject": "false", "nb-results": "3",
        "lang": "FR", "detailed": "1", "type": ""})
    assert (options.include_related_images, options.no_reject, options.nb_results,
            options.lang, options.detailed, options.type) == (True, False, 3, "fr", True, "kt")
    assert IdentifyOptions.model_validate({"nb-results": "", "lang": " "}).nb_results == 10
    for bad in ({"nb-results": "0"}, {"nb-results": "x"}, {"lang": "xx"}, {"type": "new"},
                {"detailed": "maybe"}):
        with pytest.raises(ValidationError):
            IdentifyOptions.model_validate(bad)


def test_names_and_languages():
    assert normalise_name("Viola  x wittrockiana") == "Viola × wittrockiana"
    assert language_chain("pt-BR") == ["pt-br", "pt", "en"]
