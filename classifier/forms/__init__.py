"""Forms of the dataset, model version and prediction pages, one module per page family:
``datasets`` (the dataset page's tabs and the image grid), ``versions`` (training and comparing
versions), ``predictions`` (predicting and feedback), and ``service_errors`` (a service's refusal shown
on a form).

They only check input shape; services make the writes and the rules.
"""
