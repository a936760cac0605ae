"""Ranked lists to look at: a query beside its top k gallery images, and one HTML page that
shows them all. Imports no TensorFlow.

    picture = draw_ranked_list(query_path, gallery_paths, distances, matches=[True, False, ...])
    write_picture("ranked_lists/0001.png", picture)
    write_index_html("index.html", [RankedListPage(title, "ranked_lists/0001.png", caption)])

ranked_lists.py: the pictures and the index page.
"""

from .ranked_lists import (
    BORDER,
    CAPTION_HEIGHT,
    COLORS,
    GAP,
    THUMBNAIL_SIZE,
    RankedListPage,
    distance_decimals,
    draw_ranked_list,
    relative_path,
    thumbnail,
    with_caption,
    write_index_html,
    write_picture,
)

__all__ = [
    "BORDER",
    "CAPTION_HEIGHT",
    "COLORS",
    "distance_decimals",
    "draw_ranked_list",
    "GAP",
    "RankedListPage",
    "relative_path",
    "thumbnail",
    "THUMBNAIL_SIZE",
    "with_caption",
    "write_index_html",
    "write_picture",
]
