{# Use the custom schema verbatim (raw/bronze/silver/gold, not <target>_bronze) so every environment has the same zone names. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
