{#- Fails for every row holding a category outside its domain in the raw contract (_sources.yml, without the
    XNA / XAP codes that staging turns into NULL): one query for all the categorical columns of `table`. -#}
{% test categories_in_contract(model, table) %}
{%- set checks = [] -%}
{%- for column in categorical_columns(table) -%}
    {%- set values = domain_of(table, column.name) | map('first') | list -%}
    {%- do checks.append(column.name ~ " not in ('" ~ values | map('replace', "'", "''") | join("', '") ~ "')") -%}
{%- endfor %}
select *
from {{ model }}
where {{ checks | join('\n    or ') if checks else 'false' }}
{% endtest %}
