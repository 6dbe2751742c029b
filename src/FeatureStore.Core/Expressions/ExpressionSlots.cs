namespace FeatureStore.Core.Expressions;

/// <summary>
/// The inputs of one evaluation of a request view's expressions, one array per type: the compiled expressions
/// read their names from fixed places in them. One is reused evaluation after evaluation.
/// </summary>
internal sealed class ExpressionSlots(int numbers, int texts, int flags, int times)
{
    public readonly double?[] Numbers = new double?[numbers];
    public readonly string?[] Texts = new string?[texts];
    public readonly bool?[] Flags = new bool?[flags];
    public readonly DateTime?[] Times = new DateTime?[times];
}
