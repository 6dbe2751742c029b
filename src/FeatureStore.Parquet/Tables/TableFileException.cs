namespace FeatureStore.Parquet.Tables;

/// <summary>
/// An input file that cannot be used, with where: <c>file:line:column</c> for CSV, file, row and column
/// for Parquet.
/// </summary>
public sealed class TableFileException(string message) : Exception(message);
