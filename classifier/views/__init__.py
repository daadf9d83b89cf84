"""The classifier's page views, one module per page or family of pages: ``datasets`` (list, create,
edit, delete), ``dataset_page`` (the dataset page's tabs) and ``dataset_page_forms`` (the forms it
posts), ``images`` (the gallery's relabel and delete, image files), ``version_page``,
``version_actions`` and ``compare`` (model versions), ``predict`` and ``predictions`` (predicting and
the results), ``data_checks`` and ``label_issues`` (the data-quality pages).

Each view does one operation. Objects are looked up through the selectors, so another user's object
is a 404; writes go through the services, whose ValidationErrors are shown on the form or as a message.
"""
