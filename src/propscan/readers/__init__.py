"""Readers: everything that turns user input (text, HTML, batch sources, PTC and Label Studio files) into Documents."""
