"""Readers and writers for the corpora and file formats the field uses."""

from propscan.readers.ptc import AnnotatedDocument, load_corpus, read_articles, split_ids

__all__ = ["AnnotatedDocument", "load_corpus", "read_articles", "split_ids"]
