namespace AutoReview.Gateway.Review;

/// <summary>
/// A reviewer could not produce findings (e.g. the model kept answering malformed JSON, or its endpoint kept
/// failing). The message says what went wrong last, in one line, and never contains a credential.
/// </summary>
public sealed class ReviewFailedException : Exception
{
    public ReviewFailedException(string message)
        : base(message)
    {
    }

    public ReviewFailedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
