using k8s;
using k8s.Models;

namespace Muse.Deploy.Tests;

/// <summary>Every overlay renders, and every rendered document is a valid Kubernetes object.</summary>
public sealed class RenderingTests
{
    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Render_Overlay_OneDeploymentServiceAndAutoscalerPerProcess(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);

        string[] processes = ["muse-base", "muse-image-tokenizer", "muse-orchestrator", "muse-sr", "muse-text-encoder"];
        Assert.Equal(processes, objects.OfType<V1Deployment>().Select(d => d.Metadata.Name).Order());
        Assert.Equal(processes, objects.OfType<V1Service>().Select(d => d.Metadata.Name).Order());
        Assert.Equal(processes, objects.OfType<V2HorizontalPodAutoscaler>().Select(d => d.Metadata.Name).Order());
        Assert.Equal("muse-pipelines", Assert.Single(objects.OfType<V1ConfigMap>()).Metadata.Name);
    }

    [ValidatorTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Validate_Overlay_EveryDocumentMatchesTheApiSchemas(string rendering)
    {
        var (code, output) = await Validator.ValidateAsync(await Manifests.RenderAsync(rendering));

        Assert.True(code == 0, output);
        Assert.Equal(16, output.Split('\n').Count(line => line.StartsWith("ok ", StringComparison.Ordinal)));
    }

    [NodeFact]
    public async Task Validate_BrokenDocuments_FailsNamingEachProblem()
    {
        // A string where the schema wants an integer, a missing required field, and a kind the API does not have.
        const string broken = """
            apiVersion: v1
            kind: Service
            metadata: { name: bad-port }
            spec:
              ports: [{ port: "8080" }]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: no-containers }
            spec:
              selector: { matchLabels: { app: x } }
              template: { metadata: { labels: { app: x } }, spec: {} }
            ---
            apiVersion: apps/v1
            kind: Deploymnet
            metadata: { name: typo }
            """;

        var (code, output) = await Validator.ValidateAsync(broken);

        Assert.Equal(1, code);
        Assert.Contains("error Service/bad-port: /spec/ports/0/port must be integer", output);
        Assert.Contains("error Deployment/no-containers: /spec/template/spec must have required property containers", output);
        Assert.Contains("error Deploymnet/typo: no schema for apps/v1 Deploymnet", output);
    }

    [ValidatorTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Validate_OverlayWithOneFieldBroken_Fails(string rendering)
    {
        // The rendered output itself, with one probe's port turned into a name (grpc probes take a number only).
        var yaml = await Manifests.RenderAsync(rendering);
        var broken = ReplaceFirst(yaml, "grpc:\n            port: 8080", "grpc:\n            port: grpc");

        var (code, output) = await Validator.ValidateAsync(broken);

        Assert.NotEqual(yaml, broken);
        Assert.Equal(1, code);
        Assert.Matches(@"error Deployment/muse-[a-z-]+: /spec/template/spec/containers/0/\w+Probe/grpc/port must be integer", output);
    }

    [Fact]
    public void StrictLoad_UnknownField_Fails()
    {
        // The JSON schemas allow unknown fields; the strict typed load (every rendering goes through it) does not.
        const string typo = """
            apiVersion: v1
            kind: Service
            metadata: { name: typo }
            spec:
              clusterIp: None
            """;

        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(typo, strict: true));
        Assert.IsType<V1Service>(Assert.Single(KubernetesYaml.LoadAllFromString(typo.Replace("clusterIp", "clusterIP", StringComparison.Ordinal), strict: true)));
    }

    private static string ReplaceFirst(string text, string find, string replacement)
    {
        var at = text.IndexOf(find, StringComparison.Ordinal);
        return at < 0 ? text : string.Concat(text.AsSpan(0, at), replacement, text.AsSpan(at + find.Length));
    }
}
