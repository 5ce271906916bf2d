"""What a run keeps beside the data, in the control directory ``<uri>/_lakebench/<prefix>/``,
each document read and written by one module here:

* :mod:`.checkpoint`: the checkpoint log (head, segments, compaction; the single documents of
  earlier releases are still read), and :mod:`.receipts`, the compact table a resume or
  ``verify`` holds them in;
* :mod:`.report`: the report, a small summary document beside a line per file written;
* :mod:`.sizes`: the sizes a dataset was made with, as recorded there (and in its footers);
* :mod:`.directory`: one listing of the control directory, sorted into the above;
* :mod:`.lease`: the lease that makes one run at a time the writer of a prefix, and its fencing.
"""
