"""A test Django app (label "values") with the model of the talk's data-binding slides."""
