// A model's stage history, as `GET /v1/models/MODEL/history` and the registry's GetModelHistory answer it.
using FeatureStore.Core.Models;
using FeatureStore.Redis.Models;
using Grpc.Core;

namespace FeatureStore.Serving.Internal.Dashboard;

internal sealed partial class DashboardData
{
    /// <summary>Entries of a stage history answer when none is asked for.</summary>
    public const int DefaultStageChanges = 50;

    /// <summary>
    /// The newest <paramref name="limit"/> stage changes of <paramref name="model"/>, oldest first. NOT_FOUND for a
    /// model the served repository does not declare and the model registry does not hold.
    /// </summary>
    public async Task<IReadOnlyList<StageChange>> StageHistoryAsync(string? model, int limit, string usage, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(model))
        {
            ThrowHelper.ThrowInvalid($"give the model: {usage}");
        }

        var models = new ModelRegistryStore(Database, options.KeyPrefix, registry.Project);
        var changes = await models.History.ReadAsync(model, Math.Min(limit, StageHistory.Limit)).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (changes.Count == 0 && registry.Current.Repository.FindModel(model) is null
            && !await Database.SetContainsAsync(models.ModelsKey, model).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new LookupException(StatusCode.NotFound, $"no model '{ThrowHelper.Shown(model)}' is declared or registered");
        }

        return changes;
    }
}
