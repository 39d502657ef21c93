"""The staff admin: server-rendered Jinja2 pages under ``/admin/``.

Every page is a view on a context from :mod:`ticketing.resources.admin` (whose ACLs admit
staff only) and calls the same services as the JSON API: views parse form fields, call one
service, flash what happened and redirect (POST/redirect/GET), or re-render the form with the
service's field errors next to the fields. Nothing here writes SQL or re-states a business
rule; the services decide what is allowed.

Modules, one per area: ``auth`` (login, logout, error pages), ``dashboard``, ``stadiums``,
``matches``, ``seat_maps`` (the pictures and block toggling), ``orders``, ``users``,
``gate``, ``audit``, ``credits`` (staff credits: approval, reversal), ``exports`` (CSV);
``forms`` holds parsing, pagination and the template helpers, and
``pictures`` the SVG geometry.
"""
