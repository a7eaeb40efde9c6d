from features.catalogue import README, render_readme


def test_the_registry_in_the_readme_is_current():
    text = README.read_text()
    assert render_readme(text) == text, "run `flowlet features` to regenerate the table"
