{#- Fails for every row holding +/-infinity or NaN in a DOUBLE column (division by zero must give NULL). -#}
{% test no_infinite_values(model) %}
{%- set cols = [] -%}
{%- if execute -%}
  {%- for col in adapter.get_columns_in_relation(model) if col.dtype | upper == 'DOUBLE' -%}
    {%- do cols.append(adapter.quote(col.name)) -%}
  {%- endfor -%}
{%- endif -%}
select *
from {{ model }}
where {% for c in cols %}not isfinite(coalesce({{ c }}, 0)){{ " or " if not loop.last }}{% else %}false{% endfor %}
{% endtest %}
