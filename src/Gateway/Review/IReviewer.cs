using AutoReview.Gateway.Context;

namespace AutoReview.Gateway.Review;

/// <summary>Something that turns a <see cref="ReviewContext"/> into findings (the rules reviewer, the LLM reviewer).</summary>
public interface IReviewer
{
    /// <summary>Every rule this reviewer can report, for SARIF's rules[] and for documentation.</summary>
    IReadOnlyList<RuleDescriptor> Rules { get; }

    /// <summary>The findings, sorted by <see cref="FindingOrder"/>.</summary>
    Task<IReadOnlyList<Finding>> ReviewAsync(ReviewContext context, CancellationToken cancellationToken = default);
}
