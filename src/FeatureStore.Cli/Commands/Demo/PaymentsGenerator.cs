using System.Globalization;
using System.Text;
using FeatureStore.Core.Events;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>One generated card payment and whether it was fraud (the label is known to the demo, not sent in the event).</summary>
internal sealed record Payment(string Id, string User, string Merchant, double Amount, string Country, bool CardPresent, long TimeMs, bool Fraud)
{
    /// <summary>The merchant's category (each merchant has one), which the model's predictions carry for its segmented performance.</summary>
    public string Category => PaymentsGenerator.Categories[int.Parse(Merchant.AsSpan(1), CultureInfo.InvariantCulture) % PaymentsGenerator.Categories.Length];

    public byte[] Json() => Encoding.UTF8.GetBytes(
        $$"""{"transaction_id":"{{Id}}","user_id":"{{User}}","merchant_id":"{{Merchant}}","amount":{{Amount.ToString("0.00", CultureInfo.InvariantCulture)}},"currency":"EUR","country":"{{Country}}","card_present":{{(CardPresent ? "true" : "false")}},"event_time":"{{Rfc3339.Format(TimeMs)}}"}""");
}

/// <summary>
/// A payments stream with fraud in it. Card holders spend around their own level, mostly at a few
/// favourite merchants, mostly in their home country, often with the card present. A few cards get
/// compromised: for twenty minutes they make a burst of larger card-not-present payments abroad,
/// mostly at a small set of risky web shops. Those payments are the fraud label. The windowed features
/// (counts and sums over an hour, distinct merchants, merchant averages) see the bursts; a model trained
/// on them should rank fraud well above chance.
/// </summary>
internal static class PaymentsGenerator
{
    private static readonly string[] Homes = ["FR", "FR", "FR", "FR", "FR", "FR", "DE", "ES", "IT", "BE"];
    private static readonly string[] Abroad = ["US", "BR", "NG", "RU", "CN", "GB"];

    /// <summary>Merchant categories; merchant n is in category n mod 4.</summary>
    public static readonly string[] Categories = ["grocery", "travel", "electronics", "fashion"];

    /// <summary>About <paramref name="count"/> payments between <paramref name="startMs"/> and <paramref name="endMs"/>, in time order.</summary>
    public static List<Payment> Generate(int count, long startMs, long endMs, int seed = 7)
    {
        var random = new Random(seed);
        var users = Math.Max(50, count / 20);
        var merchants = Math.Max(40, users / 10);
        var risky = Math.Max(5, merchants / 15);
        var level = new double[users];
        var home = new string[users];
        var favourites = new int[users][];
        for (var u = 0; u < users; u++)
        {
            level[u] = Math.Exp(3.3 + (0.5 * Normal(random)));
            home[u] = Homes[random.Next(Homes.Length)];
            favourites[u] = [.. Enumerable.Range(0, 4).Select(_ => risky + random.Next(merchants - risky))];
        }

        var payments = new List<Payment>(count);
        var span = endMs - startMs;

        // Fraud bursts: one card in eight, 4 to 12 payments each within 20 minutes: about 5% of the payments.
        var compromised = Math.Max(3, users / 8);
        for (var c = 0; c < compromised; c++)
        {
            var u = random.Next(users);
            var burst = startMs + (span / 12) + (long)(random.NextDouble() * span * 10 / 12);
            var n = 4 + random.Next(9);
            var country = Abroad[random.Next(Abroad.Length)];
            for (var k = 0; k < n; k++)
            {
                var merchant = random.NextDouble() < 0.7 ? random.Next(risky) : random.Next(merchants);
                payments.Add(new Payment("", User(u), Merchant(merchant), Round(level[u] * Math.Exp(1.3 + (0.5 * Normal(random)))), country, false,
                    burst + random.Next(20 * 60_000), true));
            }
        }

        var legit = Math.Max(0, count - payments.Count);
        for (var i = 0; i < legit; i++)
        {
            var u = random.Next(users);
            var merchant = random.NextDouble() < 0.8 ? favourites[u][random.Next(4)] : random.Next(merchants);
            var country = random.NextDouble() < 0.95 ? home[u] : Abroad[random.Next(Abroad.Length)];
            payments.Add(new Payment("", User(u), Merchant(merchant), Round(level[u] * Math.Exp(0.6 * Normal(random))), country, random.NextDouble() < 0.65,
                startMs + (long)(random.NextDouble() * span), false));
        }

        payments.Sort((a, b) => a.TimeMs.CompareTo(b.TimeMs));
        for (var i = 0; i < payments.Count; i++)
        {
            payments[i] = payments[i] with { Id = "t" + i.ToString(CultureInfo.InvariantCulture) };
        }

        return payments;
    }

    /// <summary>A payment the ingest job must dead-letter (an unreadable amount and time).</summary>
    public static byte[] Malformed(string user) =>
        Encoding.UTF8.GetBytes($$"""{"user_id":"{{user}}","amount":"lots","event_time":"yesterday"}""");

    private static string User(int u) => "u" + u.ToString(CultureInfo.InvariantCulture);

    private static string Merchant(int m) => "m" + m.ToString(CultureInfo.InvariantCulture);

    private static double Round(double amount) => Math.Round(Math.Max(0.5, amount), 2);

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
