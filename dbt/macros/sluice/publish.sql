{#
  sluice's atomic zone publish (see the README, "Atomic publish"). Keep these macros in any dbt
  project whose pipeline has a zone with `publish: atomic`, and call sluice_schema() last in
  generate_schema_name. sluice decides the SQL; these macros only tell it what the warehouse
  holds and run the statements it sends, on dbt's own connection and credentials.
#}

{# While sluice builds an atomic zone it passes --vars '{sluice_staging: [its schemas]}': those models and their tests then read and write <schema>__staging, and every other schema stays live. #}
{% macro sluice_schema(schema_name) -%}
    {%- if schema_name in var('sluice_staging', []) -%}{{ schema_name }}__staging{%- else -%}{{ schema_name }}{%- endif -%}
{%- endmacro %}

{# Logs one line "SLUICE-RESULT {json}": the target's engine and database, which of the schemas and their staging copies exist, their relations, and the SQL of the views that bind by name (all views on DuckDB, late-binding views on Redshift). #}
{% macro sluice_describe(schemas) %}
    {%- set wanted = [] -%}
    {%- for base in schemas -%}{%- do wanted.extend([base | lower, (base ~ '__staging') | lower]) -%}{%- endfor -%}
    {%- set literals = [] -%}
    {%- for name in wanted -%}{%- do literals.append(sluice_literal(name)) -%}{%- endfor -%}
    {%- set listed = literals | join(', ') -%}
    {%- set catalog = "and lower(table_catalog) = lower(" ~ sluice_literal(target.database) ~ ")" if target.type == 'duckdb' else "" -%}
    {%- set found = {} -%}
    {%- for name in wanted -%}{%- do found.update({name: {'exists': false, 'relations': []}}) -%}{%- endfor -%}
    {%- set schemata -%}
        select lower(schema_name) from information_schema.schemata
        where lower(schema_name) in ({{ listed }}) {{ catalog | replace('table_catalog', 'catalog_name') }}
    {%- endset -%}
    {%- for row in run_query(schemata).rows -%}{%- do found[row[0]].update({'exists': true}) -%}{%- endfor -%}
    {%- set tables -%}
        select lower(table_schema), table_name, table_type from information_schema.tables
        where lower(table_schema) in ({{ listed }}) {{ catalog }}
        order by 1, 2
    {%- endset -%}
    {%- for row in run_query(tables).rows -%}
        {%- do found[row[0]]['relations'].append({'name': row[1], 'type': 'view' if 'VIEW' in (row[2] | upper) else 'table'}) -%}
    {%- endfor -%}
    {%- set views = {} -%}
    {%- if target.type == 'duckdb' -%}
        {%- set query -%}
            select lower(schema_name) || '.' || view_name, sql from duckdb_views()
            where not internal and lower(database_name) = lower({{ sluice_literal(target.database) }}) and lower(schema_name) in ({{ listed }})
        {%- endset -%}
        {%- for row in run_query(query).rows -%}{%- do views.update({row[0]: row[1]}) -%}{%- endfor -%}
    {%- elif target.type == 'redshift' -%}
        {# late-binding views name their tables' schema, which a publish renames: sluice refuses to publish them #}
        {%- set query -%}
            select lower(schemaname) || '.' || viewname, definition from pg_views
            where lower(schemaname) in ({{ listed }}) and definition ilike '%with no schema binding%'
        {%- endset -%}
        {%- for row in run_query(query).rows -%}{%- do views.update({row[0]: row[1]}) -%}{%- endfor -%}
    {%- endif -%}
    {{ log('SLUICE-RESULT ' ~ tojson({'type': target.type, 'database': target.database, 'schemas': found, 'views': views}), info=True) }}
{% endmacro %}

{# Runs sluice's statements in order; a statement holding several (BEGIN ... COMMIT) is one transaction. #}
{% macro sluice_run_sql(statements) %}
    {%- for sql in statements -%}
        {%- call statement('sluice_' ~ loop.index, auto_begin=False) -%}{{ sql }}{%- endcall -%}
    {%- endfor -%}
    {{ log('SLUICE-RESULT ' ~ tojson({'statements': statements | length}), info=True) }}
{% endmacro %}

{# Snowflake: the grants on each live schema (SHOW GRANTS), which a clone does not carry over to the schema itself; sluice re-grants them on the staging copy before the swap. #}
{% macro sluice_schema_grants(schemas) %}
    {%- set found = {} -%}
    {%- for schema in schemas -%}
        {%- set rows = [] -%}
        {%- set qualified = sluice_snowflake_ident(target.database) ~ '.' ~ sluice_snowflake_ident(schema) -%}
        {%- for row in run_query('show grants on schema ' ~ qualified).rows -%}
            {%- do rows.append([row['privilege'], row['granted_to'], row['grantee_name']]) -%}
        {%- endfor -%}
        {%- do found.update({schema: rows}) -%}
    {%- endfor -%}
    {{ log('SLUICE-RESULT ' ~ tojson(found), info=True) }}
{% endmacro %}

{# A string literal holding any name: quotes doubled, and on Snowflake and Redshift, where a backslash escapes in a literal, backslashes too. #}
{% macro sluice_literal(text) -%}
    {%- set escaped = text | string | replace("'", "''") -%}
    {%- if target.type in ('snowflake', 'redshift') -%}{%- set escaped = escaped | replace('\\', '\\\\') -%}{%- endif -%}
    '{{ escaped }}'
{%- endmacro %}

{# A Snowflake name dbt created unquoted, quoted as Snowflake stores it (upper case); sluice refuses names that need quoting before it asks for grants. #}
{% macro sluice_snowflake_ident(name) -%}
    "{{ name | upper | replace('"', '""') }}"
{%- endmacro %}

{# Runs sluice's statements in one transaction, then logs "SLUICE-RESULT {json}" with the rows of its query, every value as text: how a zone's lease (sluice.zone_leases) is taken, checked and given back. #}
{% macro sluice_query(statements, query) %}
    {%- for sql in statements -%}
        {%- call statement('sluice_' ~ loop.index, auto_begin=True) -%}{{ sql }}{%- endcall -%}
    {%- endfor -%}
    {%- if statements -%}{%- do adapter.commit() -%}{%- endif -%}
    {%- set rows = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- set values = [] -%}
        {%- for value in row -%}{%- do values.append(none if value is none else (value ~ '')) -%}{%- endfor -%}
        {%- do rows.append(values) -%}
    {%- endfor -%}
    {{ log('SLUICE-RESULT ' ~ tojson({'rows': rows}), info=True) }}
{% endmacro %}
