namespace AutoReview.Bundle;

/// <summary>A bundle problem a person can act on: the path, the field, what was expected.</summary>
public class BundleException(string message, Exception? inner = null) : Exception(message, inner);
