using System.Globalization;

namespace FeatureStore.Core.Definitions;

/// <summary>How bad a diagnostic is.</summary>
public enum DiagnosticSeverity
{
    /// <summary>The repository is not applied.</summary>
    Error,

    /// <summary>Worth a look; the repository is still valid.</summary>
    Warning,
}

/// <summary>One problem in a feature repository file, where it is and what to write instead.</summary>
/// <param name="File">The file name as given.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
/// <param name="Code">Stable code, <c>FSnnnn</c>.</param>
/// <param name="Severity">Error or warning.</param>
/// <param name="Message">What is wrong.</param>
/// <param name="Hint">What to write instead, or null.</param>
public sealed record Diagnostic(string File, int Line, int Column, string Code, DiagnosticSeverity Severity, string Message, string? Hint)
{
    /// <summary><c>file:line:column: error FS0103: message (hint: …)</c>, the form compilers use.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}: {(Severity == DiagnosticSeverity.Error ? "error" : "warning")} {Code}: {Message}")
        + (Hint is null ? "" : $" (hint: {Hint})");
}

/// <summary>The outcome of loading a repository: the repository, or every diagnostic (never both on error).</summary>
public sealed record LoadResult(FeatureRepository? Repository, IReadOnlyList<Diagnostic> Diagnostics, string SourceText)
{
    /// <summary>True when the repository loaded with no errors.</summary>
    public bool Success => Repository is not null;
}
