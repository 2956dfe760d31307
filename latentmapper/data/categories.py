"""Shape categories and their ShapeNet synset ids."""

CATEGORIES: dict[str, str] = {"car": "02958343", "airplane": "02691156"}
CATEGORY_OF_SYNSET: dict[str, str] = {synset: name for name, synset in CATEGORIES.items()}


def check_category(category: str) -> str:
    """Return ``category`` or raise a ValueError that lists the known ones."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of: {', '.join(sorted(CATEGORIES))}")
    return category
