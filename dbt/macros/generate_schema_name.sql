{# Zones are schemas named exactly bronze, silver and gold, not <target>_bronze: readers and
   grants refer to them by name in every environment. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
