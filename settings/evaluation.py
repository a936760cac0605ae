"""When and how the test sets are evaluated: the evaluation flags, checked as they are built."""

from dataclasses import dataclass

from .checks import (
    require_at_least,
    require_fraction,
)


@dataclass(frozen=True)
class EvaluationSettings:
    """When and how the test set is evaluated; field names are the command-line flags."""

    evaluate_testing_every_N_epochs: int = 10
    use_horizontal_flipping_in_evaluation: bool = False
    use_re_ranking: bool = False
    save_data_to_disk: bool = False
    evaluate_testing_before_training: bool = False
    ranked_list_num: int = 0  # pictures of the worst and of the best queries, at the end
    # alpha query expansion (evaluation/query_expansion.py): rows of its own in the results
    use_query_expansion: bool = False
    query_expansion_k: int = 5
    query_expansion_alpha: float = 3.0
    # the "same person?" mark for ranked lists: this share of the top-10 results it marks must
    # be the same person (evaluation/top_of_list.py)
    same_person_precision: float = 0.95
    # video datasets: frames per tracklet, spread evenly over it, whose mean embedding is the
    # tracklet's (0: every frame; evaluation/tracklets.py)
    sequence_length: int = 15

    def __post_init__(self):
        require_at_least(
            self,
            evaluate_testing_every_N_epochs=1,
            ranked_list_num=0,
            query_expansion_k=1,
            query_expansion_alpha=0,
            sequence_length=0,
        )
        require_fraction(self, "same_person_precision")

    @property
    def monitor(self) -> str:
        """The log entry the best model is chosen by."""
        return "test_re_ranking_mAP" if self.use_re_ranking else "test_mAP"
