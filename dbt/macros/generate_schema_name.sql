{# Use the custom schema verbatim (raw/bronze/silver/gold, not <target>_bronze) so every environment has the same zone names; sluice_schema() sends a zone that publishes atomically to its staging copy. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {{ sluice_schema(base) }}
{%- endmacro %}
