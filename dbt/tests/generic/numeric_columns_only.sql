{#- Fails for every column of the model, other than `except`, whose type is not numeric (models need numbers). -#}
{% test numeric_columns_only(model, except=[]) %}
select column_name, data_type
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and column_name not in ({% for c in except %}'{{ c }}'{{ ", " if not loop.last }}{% endfor %})
  and data_type not in ('DOUBLE', 'BIGINT', 'INTEGER', 'HUGEINT', 'SMALLINT', 'TINYINT', 'FLOAT', 'UBIGINT')
  and data_type not like 'DECIMAL%'
{% endtest %}
