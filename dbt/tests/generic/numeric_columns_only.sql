{#- Fails for every column of the model, other than `except`, whose type is not numeric (models need numbers). -#}
{% test numeric_columns_only(model, except=[]) %}
{{ adapter.dispatch('non_numeric_columns')(model, except) }}
{% endtest %}
