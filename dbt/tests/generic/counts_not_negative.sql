{#- Fails for every row where a count column (*_COUNT, *_SIZE, *_NUNIQUE) is NULL or negative: a client without
    history has zero counts. One query for all the count columns. -#}
{% test counts_not_negative(model) %}
{%- set counts = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(model)
           if column.name.endswith(('_COUNT', '_SIZE', '_NUNIQUE')) -%}
        {%- do counts.append('coalesce(' ~ column.name ~ ', -1) < 0') -%}
    {%- endfor -%}
{%- endif %}
select *
from {{ model }}
where {{ counts | join('\n    or ') if counts else 'false' }}
{% endtest %}
