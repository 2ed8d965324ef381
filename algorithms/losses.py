"""Loss functions of deep RL and RLHF: pure torch functions, one per equation.

Policy optimisation: the PPO clipped surrogate (Schulman et al. 2017, "Proximal Policy Optimization
Algorithms", eq. 7), its diagnostics (clip fraction, approximate KL), the clipped value loss and the
entropy bonus of the common implementations (Engstrom et al. 2020, "Implementation Matters in Deep
Policy Gradients"; Huang et al. 2022, "The 37 Implementation Details of Proximal Policy Optimization").

Value-based: DQN targets (Mnih et al. 2015, "Human-level control through deep reinforcement
learning") and double-DQN targets (van Hasselt et al. 2016, "Deep Reinforcement Learning with Double
Q-learning", eq. 4), with the Huber loss.

Preferences: the Bradley-Terry reward-model loss (Bradley & Terry 1952; Christiano et al. 2017;
Ouyang et al. 2022, eq. 1), DPO (Rafailov et al. 2023, eq. 7), KTO (Ethayarajh et al. 2024, eq. 8)
and the KL-shaped per-token reward of RLHF with PPO (Ziegler et al. 2019; Stiennon et al. 2020).

Critic-free policy optimisation for LLMs: GRPO's group-relative advantages and per-token clipped
loss with the k3 KL to the reference (Shao et al. 2024, "DeepSeekMath", eq. 3 and 4), with the
aggregations and clip-higher of DAPO (Yu et al. 2025) and Dr. GRPO (Liu et al. 2025, "Understanding
R1-Zero-Like Training"), and RLOO's leave-one-out baseline (Ahmadian et al. 2024, "Back to Basics").

The REINFORCE losses (``reinforce_loss``, ``reinforce_loss_from_rewards``) live in
``algorithms/reinforce.py`` beside their algorithm; they are not re-exported here so that this
module imports torch alone, not gymnasium.

Shapes: B is the batch, A the number of actions, T the number of tokens. Unless a docstring says
otherwise, inputs have shape (B,) and a loss is a scalar mean over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "approx_kl",
    "bradley_terry_loss",
    "clip_fraction",
    "clipped_value_loss",
    "dpo_implicit_rewards",
    "dpo_loss",
    "dqn_loss",
    "dqn_td_targets",
    "entropy_bonus",
    "grpo_advantages",
    "grpo_loss",
    "kl_shaped_reward",
    "kto_loss",
    "ppo_clip_loss",
    "ppo_clip_objective",
    "rloo_advantages",
]


# ---------------------------------------------------------------------------------------
# PPO
# ---------------------------------------------------------------------------------------


def ppo_clip_loss(logp: Tensor, logp_old: Tensor, adv: Tensor, clip_eps: float) -> Tensor:
    """Minus L^CLIP(theta) = -E_t[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)] (Schulman et al. 2017, eq. 7).

    logp: ln pi_theta(a_t | s_t) under the current policy; logp_old: the same under the policy that
    collected the data; adv: the advantage estimates A_t. All (B,). Returns a scalar to minimise.

    The min makes the objective a pessimistic bound: once the ratio has moved past 1 + eps with
    A > 0 (or past 1 - eps with A < 0) the clipped term is the smaller one, it is constant in theta,
    and that sample stops pushing the policy further.
    """
    _check_same_shape(logp=logp, logp_old=logp_old, adv=adv)
    # theta_old and A_t are constants of the surrogate: no gradient may flow into either.
    logp_old, adv = logp_old.detach(), adv.detach()
    # lesson:start ppo-ratio
    ratio = (logp - logp_old).exp()  # r_t(theta) = pi_theta(a|s) / pi_theta_old(a|s), (B,)
    # lesson:end ppo-ratio
    # lesson:start ppo-clip
    unclipped = ratio * adv  # the CPI surrogate r_t A_t, (B,)
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * adv  # (B,)
    return -torch.min(unclipped, clipped).mean()  # negated: optimisers minimise
    # lesson:end ppo-clip


def ppo_clip_objective(ratio: Tensor, adv: Tensor, clip_eps: float) -> Tensor:
    """min(r A, clip(r, 1 - eps, 1 + eps) A) per element: L^CLIP before the mean (Schulman et al. 2017, eq. 7).

    Not negated and not averaged, so a lesson can plot the objective against the ratio (the paper's
    figure 1). ratio and adv broadcast against each other.
    """
    return torch.min(ratio * adv, ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * adv)


def ppo_kl_penalty_loss(logp: Tensor, logp_old: Tensor, adv: Tensor, beta: float) -> Tensor:
    """Minus L^KLPEN(theta) = -E_t[r_t A_t - beta KL[pi_old(.|s_t), pi_theta(.|s_t)]] (Schulman et al. 2017, eq. 8).

    The PPO paper's other surrogate: no clip, a KL penalty instead, its weight beta adapted between
    updates by `adapt_kl_beta`. The KL is estimated per sample from a ~ pi_old with the non-negative
    "k3" estimator (r - 1) - ln r (see `approx_kl`), kept differentiable here: its expected gradient
    under pi_old, E_old[(r - 1) grad ln pi_theta] = -E_old[grad ln pi_theta], is that of the true KL.
    All inputs (B,); returns a scalar to minimise.
    """
    _check_same_shape(logp=logp, logp_old=logp_old, adv=adv)
    logp_old, adv = logp_old.detach(), adv.detach()
    # lesson:start ppo-kl-penalty
    log_ratio = logp - logp_old  # ln r_t, (B,)
    ratio = log_ratio.exp()  # r_t(theta), (B,)
    kl = ((ratio - 1.0) - log_ratio).mean()  # KL(pi_old || pi_theta), k3 estimate, scalar
    return -(ratio * adv).mean() + beta * kl  # negated: optimisers minimise
    # lesson:end ppo-kl-penalty


def adapt_kl_beta(beta: float, kl: float, target: float) -> float:
    """The PPO paper's beta rule (Schulman et al. 2017, section 4), run once after each policy update.

    kl: the mean KL(pi_old || pi_new) the update reached; target: d_targ. Halve beta when the
    update moved too little (kl < d_targ / 1.5), double it when it moved too far (kl > 1.5 d_targ),
    else keep it. The paper notes 1.5 and 2 are heuristic and the result is not very sensitive to them.
    """
    if not (target > 0 and beta > 0):
        raise ValueError(f"adapt_kl_beta needs target > 0 and beta > 0, got target={target}, beta={beta}")
    # lesson:start adapt-kl-beta
    if kl < target / 1.5:
        return beta / 2.0
    if kl > target * 1.5:
        return beta * 2.0
    return beta
    # lesson:end adapt-kl-beta


@torch.no_grad()
def clip_fraction(logp: Tensor, logp_old: Tensor, clip_eps: float) -> Tensor:
    """The fraction of samples whose ratio lies outside [1 - eps, 1 + eps]: a scalar diagnostic.

    A large value (say above 0.2 to 0.3) means the policy moved far from the one that collected the
    data in this update, and many samples no longer contribute gradient.
    """
    ratio = (logp - logp_old).exp()  # (B,)
    return ((ratio - 1.0).abs() > clip_eps).float().mean()


@torch.no_grad()
def approx_kl(logp: Tensor, logp_old: Tensor) -> Tensor:
    """Estimate of KL(pi_old || pi_theta) from samples a ~ pi_old: mean((r - 1) - ln r), r = pi_theta / pi_old.

    The "k3" estimator of Schulman's note "Approximating KL Divergence" (2020): unbiased, since
    E_old[r - 1] = 0, never negative, since ln r <= r - 1, and of lower variance than the naive
    mean(-ln r). Used to log (or early-stop on) how far one update moved the policy.
    """
    log_ratio = logp - logp_old  # ln r, (B,)
    return ((log_ratio.exp() - 1.0) - log_ratio).mean()


def clipped_value_loss(values: Tensor, values_old: Tensor, returns: Tensor, clip_eps: float | None) -> Tensor:
    """0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)); plain 0.5 * MSE when clip_eps is None.

    values: V_theta(s_t) now; values_old: the values recorded at rollout time; returns: the targets
    R_t (e.g. GAE advantages + values_old). All (B,). Value clipping is not in the PPO paper; it is
    in OpenAI's baselines and most PPO code since (Engstrom et al. 2020; Huang et al. 2022, detail 9).
    Taking the max keeps the loss pessimistic, like the policy's min; Engstrom et al. found it does
    not help and can hurt, so it is optional.
    """
    _check_same_shape(values=values, values_old=values_old, returns=returns)
    # lesson:start value-clip
    unclipped = (values - returns).pow(2)  # (B,)
    if clip_eps is None:
        return 0.5 * unclipped.mean()
    values_clipped = values_old + (values - values_old).clamp(-clip_eps, clip_eps)  # (B,)
    clipped = (values_clipped - returns).pow(2)  # (B,)
    return 0.5 * torch.max(unclipped, clipped).mean()
    # lesson:end value-clip


def entropy_bonus(entropy: Tensor) -> Tensor:
    """Mean policy entropy H[pi_theta(. | s_t)] over the batch (Schulman et al. 2017, eq. 9: the S term).

    The caller subtracts ``ent_coef * entropy_bonus(entropy)`` from the loss: a bonus for staying
    uncertain, which slows premature collapse onto one action.
    """
    return entropy.mean()


# ---------------------------------------------------------------------------------------
# DQN
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def dqn_td_targets(
    rewards: Tensor,
    next_q_target: Tensor,
    terminated: Tensor,
    gamma: float,
    next_q_online: Tensor | None = None,
) -> Tensor:
    """y = r + gamma (1 - d) Q_target(s', a*): DQN (Mnih et al. 2015) or double-DQN (van Hasselt et al. 2016, eq. 4).

    rewards, terminated: (B,); next_q_target, next_q_online: (B, A), the Q-values of s' under the
    target and the online network. DQN picks a* = argmax_a Q_target(s', a). Given next_q_online,
    double DQN picks a* = argmax_a Q_online(s', a) and scores it with Q_target: taking the max of
    one noisy estimate overestimates, and decoupling choice from evaluation removes most of that bias.

    terminated must mark real ends only: a time-limit truncation still bootstraps. The targets carry
    no gradient (the semi-gradient of Q-learning): the network chases y, it does not move y.
    """
    if rewards.dim() != 1 or next_q_target.dim() != 2 or next_q_target.shape[0] != rewards.shape[0]:
        raise ValueError(
            f"want rewards (B,) and next_q_target (B, A), got {tuple(rewards.shape)} and {tuple(next_q_target.shape)}"
        )
    if next_q_online is not None and next_q_online.shape != next_q_target.shape:
        raise ValueError(
            f"next_q_online has shape {tuple(next_q_online.shape)}, next_q_target {tuple(next_q_target.shape)}"
        )
    _check_same_shape(rewards=rewards, terminated=terminated)
    not_done = 1.0 - terminated.to(rewards.dtype)  # bool or 0/1 -> float, (B,)
    if next_q_online is None:
        # lesson:start dqn-target
        next_q = next_q_target.max(dim=1).values  # max_a Q_target(s', a), (B,)
        # lesson:end dqn-target
    else:
        # lesson:start double-dqn-target
        a_star = next_q_online.argmax(dim=1, keepdim=True)  # the online network chooses, (B, 1)
        next_q = next_q_target.gather(1, a_star).squeeze(1)  # the target network evaluates, (B,)
        # lesson:end double-dqn-target
    # lesson:start bellman-target
    return rewards + gamma * not_done * next_q  # no bootstrap past a real end, (B,)
    # lesson:end bellman-target


def dqn_loss(q_taken: Tensor, targets: Tensor, huber: bool = True) -> Tensor:
    """Mean Huber loss (smooth L1, delta = 1), or mean squared error, between Q(s, a) and the targets y.

    q_taken: Q_online(s, a) of the actions in the batch, (B,); targets: y from ``dqn_td_targets``, (B,).
    Mnih et al. 2015 clip the error term to [-1, 1]; the Huber loss with delta 1 has exactly that
    gradient, so a single wild target cannot blow up an update.
    """
    _check_same_shape(q_taken=q_taken, targets=targets)
    targets = targets.detach()  # semi-gradient: y is a constant
    if huber:
        return F.smooth_l1_loss(q_taken, targets)
    return F.mse_loss(q_taken, targets)


# ---------------------------------------------------------------------------------------
# RLHF: reward models and preference optimisation
# ---------------------------------------------------------------------------------------


def bradley_terry_loss(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    """-mean ln sigma(r(x, y_w) - r(x, y_l)): the reward-model loss (Ouyang et al. 2022, eq. 1).

    Under the Bradley-Terry model (1952) P(y_w > y_l) = sigma(r_w - r_l); this is its negative
    log-likelihood. It is ln 2 when the rewards tie and falls to 0 as the margin grows. Only the
    difference matters, so the reward's offset is free (reward models are often normalised after).
    """
    _check_same_shape(r_chosen=r_chosen, r_rejected=r_rejected)
    # lesson:start bradley-terry
    return -F.logsigmoid(r_chosen - r_rejected).mean()  # logsigmoid, not log(sigmoid): stable for big margins
    # lesson:end bradley-terry


def dpo_loss(pi_chosen: Tensor, pi_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float) -> Tensor:
    """Direct Preference Optimization (Rafailov et al. 2023, eq. 7).

    -mean ln sigma(beta ln(pi(y_w|x) / ref(y_w|x)) - beta ln(pi(y_l|x) / ref(y_l|x))).
    Inputs are summed log-probabilities of each completion (not per token), all (B,). It is the
    Bradley-Terry loss with the implicit reward beta ln(pi / ref) in place of a reward model, so
    it equals ln 2 when the policy equals the reference.
    """
    _check_same_shape(pi_chosen=pi_chosen, pi_rejected=pi_rejected, ref_chosen=ref_chosen, ref_rejected=ref_rejected)
    ref_chosen, ref_rejected = ref_chosen.detach(), ref_rejected.detach()  # the reference model is frozen
    # lesson:start dpo-loss
    chosen_logratio = pi_chosen - ref_chosen  # ln pi(y_w|x) / ref(y_w|x), (B,)
    rejected_logratio = pi_rejected - ref_rejected  # ln pi(y_l|x) / ref(y_l|x), (B,)
    return -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()
    # lesson:end dpo-loss


def dpo_implicit_rewards(
    pi_chosen: Tensor, pi_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float
) -> tuple[Tensor, Tensor]:
    """(beta (pi_chosen - ref_chosen), beta (pi_rejected - ref_rejected)): DPO's implicit rewards.

    r_hat(x, y) = beta ln(pi(y|x) / ref(y|x)) (Rafailov et al. 2023, section 5), up to a term in x
    alone that cancels in every comparison. Logged as rewards/chosen and rewards/rejected; their
    difference is the margin, and the fraction of positive margins is the preference accuracy.
    """
    return beta * (pi_chosen - ref_chosen), beta * (pi_rejected - ref_rejected)


def kto_loss(
    pi_logps: Tensor,
    ref_logps: Tensor,
    desirable: Tensor,
    kl_ref: Tensor | float,
    beta: float,
    lambda_d: float = 1.0,
    lambda_u: float = 1.0,
) -> Tensor:
    """Kahneman-Tversky Optimization (Ethayarajh et al. 2024, eq. 8): mean over the batch of lambda_y - v(x, y).

    pi_logps, ref_logps: summed completion log-probabilities, (B,); desirable: (B,) bool (or 0/1),
    True where the completion is labelled good. With r = ln(pi / ref) and the reference point z0:

        v = lambda_d sigma(beta (r - z0))   for a desirable y
        v = lambda_u sigma(beta (z0 - r))   for an undesirable y

    kl_ref is z0, an estimate of KL(pi || ref): a scalar, or a tensor of log-ratios
    ln pi(y'|x) - ln ref(y'|x) on mismatched pairs that is averaged. The paper backpropagates
    through neither: it is detached and clamped at 0 (a KL cannot be negative). Unlike DPO, each
    example needs only a thumbs up or down, not a pair; lambda_d and lambda_u weigh the two kinds
    (the paper suggests lambda_d n_d / (lambda_u n_u) in [1, 4/3] when the classes are unbalanced).
    """
    _check_same_shape(pi_logps=pi_logps, ref_logps=ref_logps, desirable=desirable)
    desirable = desirable.bool()
    z0 = torch.as_tensor(kl_ref, dtype=pi_logps.dtype, device=pi_logps.device).detach().mean().clamp(min=0.0)
    # lesson:start kto-value
    r = pi_logps - ref_logps.detach()  # implicit reward ln pi(y|x) / ref(y|x), (B,)
    value = torch.where(
        desirable,
        lambda_d * torch.sigmoid(beta * (r - z0)),  # gains: above the reference point
        lambda_u * torch.sigmoid(beta * (z0 - r)),  # losses: below it
    )  # (B,)
    lambda_y = torch.where(desirable, lambda_d, lambda_u).to(value.dtype)  # (B,)
    return (lambda_y - value).mean()
    # lesson:end kto-value


def kl_shaped_reward(
    reward: Tensor | float, logp: Tensor, logp_ref: Tensor, beta: float, *, mask: Tensor | None = None
) -> Tensor:
    """Per-token reward of RLHF with PPO: -beta (ln pi - ln ref) at each token, plus r(x, y) at the last token.

    The sequence-level reward of Ziegler et al. 2019 and Stiennon et al. 2020,
    R(x, y) = r(x, y) - beta ln(pi(y|x) / ref(y|x)), spread over the tokens: ln pi(y|x) is a sum over
    tokens, so the penalty is paid token by token; the reward model scores the whole completion, so
    its score arrives at the last token (the convention "reward at the last token", as in both
    papers' code and trl's PPO trainer). Summed over the tokens it gives back R(x, y).

    logp, logp_ref: (B, T) or (T,) log-probabilities of the sampled tokens under the policy and the
    reference; reward: (B,) or a scalar, one score per completion. mask (optional, keyword): (B, T)
    or (T,), 1 on the completion's real tokens and 0 on padding; padding then gets no penalty and
    the score lands on each completion's last real token instead of position T - 1.
    Returns rewards shaped like logp, detached: they are data for the return and advantage
    computations, not a loss to differentiate.
    """
    if logp.shape != logp_ref.shape or logp.dim() not in (1, 2):
        raise ValueError(
            f"logp and logp_ref must share a shape (B, T) or (T,), got {tuple(logp.shape)}, {tuple(logp_ref.shape)}"
        )
    if mask is not None and mask.shape != logp.shape:
        raise ValueError(f"mask must have the shape of logp {tuple(logp.shape)}, got {tuple(mask.shape)}")
    reward = torch.as_tensor(reward, dtype=logp.dtype, device=logp.device).detach()
    if reward.numel() != (logp.shape[0] if logp.dim() == 2 else 1):
        raise ValueError(
            f"reward must have one entry per sequence, got shape {tuple(reward.shape)} for logp {tuple(logp.shape)}"
        )
    T = logp.shape[-1]
    if mask is None:
        mask = torch.ones_like(logp)
        last = torch.full((*logp.shape[:-1], 1), T - 1, device=logp.device)  # (B, 1)
    else:
        mask = mask.to(logp.dtype)
        last = T - 1 - mask.flip(-1).argmax(dim=-1, keepdim=True)  # index of the last real token, (B, 1)
    reward = reward.reshape(last.shape)  # (B, 1)
    logp, logp_ref = logp.detach(), logp_ref.detach()
    # lesson:start kl-penalty
    rewards = -beta * (logp - logp_ref) * mask  # the KL penalty, paid at every real token, (B, T)
    return rewards.scatter_add(-1, last, reward)  # the reward model's score, at the last token
    # lesson:end kl-penalty


# ---------------------------------------------------------------------------------------
# GRPO and its relatives: a baseline from the group, no critic
# ---------------------------------------------------------------------------------------

GRPO_AGGREGATIONS = ("sequence", "token", "constant")


def grpo_advantages(rewards: Tensor, scale: str = "std", eps: float = 1e-4) -> Tensor:
    """Group-relative advantages (Shao et al. 2024, "DeepSeekMath", section 4.1.2): (r - mean_g r) / (std_g r + eps).

    rewards: (B, G), G >= 2 completions sampled for each of B prompts, each scored once (outcome
    supervision). The group's mean is the baseline a critic would otherwise learn; dividing by the
    group's standard deviation (Bessel-corrected, as in trl; eps = 1e-4 as in trl) makes every
    prompt weigh alike, easy or hard. scale="none" keeps the raw difference: Dr. GRPO (Liu et al.
    2025) drops the division, which over-weights prompts whose rewards barely vary. A group whose
    rewards are all equal gets advantage 0 everywhere: it teaches nothing (DAPO's dynamic sampling
    drops such groups). Returns (B, G), no gradient.
    """
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(
            f"rewards must have shape (B, G) with G >= 2 completions per prompt, got {tuple(rewards.shape)}"
        )
    if scale not in ("std", "none"):
        raise ValueError(f"scale must be 'std' or 'none', got {scale!r}")
    rewards = rewards.detach()
    # lesson:start grpo-advantages
    advantages = rewards - rewards.mean(dim=1, keepdim=True)  # baseline: the group's mean reward, (B, G)
    if scale == "std":
        advantages = advantages / (rewards.std(dim=1, keepdim=True) + eps)  # Bessel-corrected std, (B, 1)
    return advantages
    # lesson:end grpo-advantages


def rloo_advantages(rewards: Tensor) -> Tensor:
    """REINFORCE Leave-One-Out (Ahmadian et al. 2024, eq. 5; Kool et al. 2019): r_i - mean of the group's other rewards.

    rewards: (B, G) with G >= 2. Each completion's baseline is the mean reward of the G - 1 others,
    so it does not depend on the completion itself and the gradient estimate stays unbiased (GRPO's
    own-group mean includes r_i). Since r_i - (S - r_i) / (G - 1) = G / (G - 1) (r_i - S / G), it is
    GRPO's unscaled advantage times G / (G - 1). Returns (B, G), no gradient.
    """
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(
            f"rewards must have shape (B, G) with G >= 2 completions per prompt, got {tuple(rewards.shape)}"
        )
    rewards = rewards.detach()
    G = rewards.shape[1]
    # lesson:start rloo-advantages
    others_mean = (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1)  # mean of the other G - 1, (B, G)
    return rewards - others_mean
    # lesson:end rloo-advantages


def grpo_loss(
    logp: Tensor,
    logp_old: Tensor,
    logp_ref: Tensor | None,
    adv: Tensor,
    mask: Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.04,
    aggregation: str = "sequence",
    max_len: int | None = None,
) -> Tensor:
    """The GRPO loss (Shao et al. 2024, eq. 3), with the aggregations of DAPO and Dr. GRPO. A scalar to minimise.

    logp, logp_old, logp_ref: ln pi(y_t | x, y_<t) of each sampled completion token under the policy
    being trained, the policy that sampled, and the frozen reference, (B, T). mask: (B, T), 1 on
    real completion tokens. adv: one advantage per completion, (B,) or (B, 1), given to every token
    of it (e.g. ``grpo_advantages(...).flatten()``). Per token:

        l_t = -min(r_t A, clip(r_t, 1 - eps, 1 + eps_high) A) + beta k3_t,   r_t = exp(logp - logp_old)
        k3_t = exp(ref - logp) - (ref - logp) - 1

    k3 (Schulman 2020) is an unbiased, never negative estimate of KL(pi || ref) from samples of pi;
    GRPO puts it in the loss instead of shaping the reward as PPO-RLHF does. clip_eps_high (None:
    clip_eps) is DAPO's clip-higher: a wider upper clip lets unlikely tokens with A > 0 grow, against
    entropy collapse. logp_ref may be None when beta is 0. The aggregation of the l_t:

    - "sequence": mean over each sequence's tokens, then over sequences (DeepSeekMath; trl's "grpo").
      A long completion's tokens each weigh less, so long wrong answers are punished less per token:
      a bias towards length in failures that Liu et al. 2025 point out.
    - "token": sum over all tokens of the batch / their number (DAPO; trl's "bnpo" and, in one
      batch, "dapo"). Every token weighs alike.
    - "constant": sum over all tokens / (B * max_len) (Dr. GRPO; trl's "dr_grpo"), max_len the
      generation budget (default T). No dependence on lengths at all.
    """
    if logp.dim() != 2:
        raise ValueError(f"logp must have shape (B, T), got {tuple(logp.shape)}")
    tensors = {"logp": logp, "logp_old": logp_old, "mask": mask}
    if logp_ref is not None:
        tensors["logp_ref"] = logp_ref
    elif beta != 0.0:
        raise ValueError("logp_ref is needed when beta is not 0 (the KL to the reference)")
    _check_same_shape(**tensors)
    if adv.shape not in ((logp.shape[0],), (logp.shape[0], 1)):
        raise ValueError(f"adv must have shape (B,) or (B, 1) with B = {logp.shape[0]}, got {tuple(adv.shape)}")
    if aggregation not in GRPO_AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {GRPO_AGGREGATIONS}, got {aggregation!r}")
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be a positive number of tokens, got {max_len}")
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    logp_old, adv = logp_old.detach(), adv.detach().reshape(-1, 1)  # (B, 1): one advantage for all tokens
    mask = mask.to(logp.dtype)
    # lesson:start grpo-token-loss
    ratio = (logp - logp_old).exp()  # r_t, (B, T)
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + eps_high)  # DAPO: eps_high > eps lets rare tokens rise
    per_token = -torch.min(ratio * adv, clipped * adv)  # PPO's pessimistic surrogate, per token, (B, T)
    if beta != 0.0:
        log_ref_ratio = logp_ref.detach() - logp  # ln ref / pi, (B, T)
        k3 = log_ref_ratio.exp() - log_ref_ratio - 1.0  # >= 0, unbiased for KL(pi || ref)
        per_token = per_token + beta * k3
    # lesson:end grpo-token-loss
    # lesson:start grpo-aggregation
    if aggregation == "sequence":  # DeepSeekMath: each sequence's mean, then the mean of those
        return ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    if aggregation == "token":  # DAPO: every token of the batch weighs alike
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    budget = logp.shape[1] if max_len is None else max_len  # Dr. GRPO: a constant, not the lengths
    return (per_token * mask).sum() / (logp.shape[0] * budget)
    # lesson:end grpo-aggregation


def _check_same_shape(**tensors: Tensor) -> None:
    # (B, 1) against (B,) broadcasts silently to (B, B): a classic bug that trains, badly.
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes must match: {shapes}")
